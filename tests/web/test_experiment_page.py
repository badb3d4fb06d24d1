"""The experiment page as a researcher reads it (issue 13) and its injection defences
(issue 10): whole-run progress across learning-rate trials, one loss series per trial,
what training chose, confidence intervals clipped to the metric's range, what was run
frozen at launch, a Content-Security-Policy without inline script, and the small things
(favicon, plural message, red field errors)."""
import re

import pytest

from webapp.lab.models import EvalResult, Experiment, MetricPoint, Run
from webapp.lab.services.experiment_summary import _stats, compare
from webapp.lab.services.events import ProgressRecorder
from webapp.lab.services.results import store_results
from workers.engine.progress import ProgressEvent

from workers.engine.plan import RunKey as FakeKey

from .conftest import experiment_post, fake_result, make_run, make_sft_experiment, make_task


def trial_event(stage, step, total, trial, trials=3, lr=1e-3, **values):
    return ProgressEvent(stage, step, total, values, "", {"method": "sft", "lr_trial": trial, "lr_trials": trials,
                                                          "lr": lr})


@pytest.mark.django_db
def test_progress_and_eta_span_every_learning_rate_trial(user):
    """Each trial restarts the engine's step counter; the run's bar and ETA do not."""
    exp = make_sft_experiment(user)
    run = make_run(exp)
    clock = [0.0]
    rec = ProgressRecorder(run, min_interval=0.0, clock=lambda: clock[0])
    progress, etas = [], []
    for trial in range(3):
        for step in range(0, 101, 10):  # each trial stops early at step 100 of 500
            clock[0] += 1.0
            rec(trial_event("sft", step, 500, trial, loss=1.0 / (step + 1)))
            progress.append(run.overall_progress)
            etas.append(run.eta_seconds)
        rec(trial_event("sft", 500, 500, trial, dev_loss=0.5 + trial))
    rec.close()
    assert progress == sorted(progress), "the whole-run progress went back when a trial started"
    assert progress[-1] == pytest.approx(0.1 + 0.8 * (2 + 100 / 500) / 3, abs=1e-4)
    later = [e for e in etas[12:] if e is not None]
    assert later and max(later) < etas[5], "a new trial reset the ETA"
    series = set(MetricPoint.objects.filter(run=run).values_list("series", flat=True))
    assert {"sft/loss@0", "sft/loss@1", "sft/loss@2", "sft/dev_loss@0", "sft/dev_loss@2"} <= series
    run.refresh_from_db()
    assert run.overall_progress == pytest.approx(0.9) and "trial 3 of 3" in run.message  # end of training


@pytest.mark.django_db
def test_run_stores_what_training_chose_as_the_engine_returned_it(user):
    exp = make_sft_experiment(user)
    run = make_run(exp, state="running")
    res = fake_result(FakeKey("sft", 4, 0), exp.train_task.name)
    trials = [{"trial": 0, "lr": 0.01, "best_dev_loss": 0.9, "best_epoch": 1, "best_step": 3, "epochs_run": 2},
              {"trial": 1, "lr": 0.03, "best_dev_loss": 0.6, "best_epoch": 1, "best_step": 3, "epochs_run": 2}]
    res["training_stages"] = [{"stage": "sft", **trials[1], "improved": True, "reused": False, "trials": trials}]
    trial = {"stage": "sft", "trial": 1, "lr": 0.03}
    res["loss_history"] = [{**trial, "step": 0, "epoch": 0, "dev_loss": 1.0},
                           {**trial, "step": 3, "epoch": 1, "loss": 0.7, "dev_loss": 0.6},
                           {**trial, "step": 6, "epoch": 2, "loss": 0.5, "dev_loss": 0.65}]
    store_results(run, [res])
    run.refresh_from_db()
    assert run.training == res["training_stages"]  # stored as returned, nothing re-derived
    # not streamed live: the returned history is kept per trial (the engine's trial number), dev loss included
    assert set(MetricPoint.objects.filter(run=run).values_list("series", flat=True)) == {"sft/loss@1",
                                                                                        "sft/dev_loss@1"}


def test_confidence_interval_is_a_clipped_t_interval():
    values = [0.4, 0.45, 0.5, 0.55, 0.6]  # sample sd 0.0791
    lo, hi = _stats(values, "accuracy")["ci95"]
    assert hi - 0.5 == pytest.approx(2.776 * 0.0790569 / 5 ** 0.5, rel=1e-3)  # t_{0.975, 4}
    assert _stats([0.95, 1.0, 1.0], "accuracy")["ci95"][1] == 1.0
    assert _stats([0.0, 0.0, 0.05], "ece")["ci95"][0] == 0.0
    assert _stats([0.5], "accuracy")["ci95"] is None  # one seed: no interval


@pytest.mark.django_db
def test_results_json_has_clipped_intervals_seed_points_and_eval_size(user):
    exp = make_sft_experiment(user)
    for seed, acc in enumerate([0.95, 1.0, 0.9]):
        run = make_run(exp, seed=seed, state="done")
        er = EvalResult.objects.create(run=run, eval_task_name="sentiment", accuracy=acc, ece=0.01 * seed,
                                       reliability=[{"bin_lower": 0.0, "bin_upper": 1.0, "confidence": 0.9,
                                                     "accuracy": acc, "count": 8}])
        assert er.pk
    row = compare(exp)["summary"][0]
    assert row["accuracy"]["ci95"][1] == 1.0 and row["accuracy"]["ci95"][0] < 0.95
    assert row["ece"]["ci95"][0] == 0.0
    assert row["accuracy"]["points"] == [[0, 0.95], [1, 1.0], [2, 0.9]]
    assert row["n_examples"] == 8  # too few for 15-bin ECE: the page warns


@pytest.mark.django_db
def test_every_page_has_a_csp_without_inline_script_and_a_favicon(client, user):
    exp = make_sft_experiment(user)
    task = exp.train_task
    anonymous = {url: client.get(url) for url in ("/accounts/login/", "/accounts/signup/")}
    client.force_login(user)
    pages = {url: client.get(url) for url in ("/experiments/", "/experiments/new/", "/tasks/", f"/tasks/{task.pk}/",
                                                f"/experiments/{exp.pk}/")}
    for url, response in {**anonymous, **pages}.items():
        assert response.status_code == 200, url
        csp = response["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)
        assert script_src.strip() == "'self'", (url, csp)  # no unsafe-inline, no unsafe-eval
        html = response.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert not re.search(r"\son[a-z]+\s*=", html), url  # no inline event handlers
        assert "javascript:" not in html, url
        assert 'rel="icon"' in html, url
    assert client.get("/static/lab/favicon.svg").status_code == 200


@pytest.mark.django_db
def test_what_was_run_is_frozen_at_launch(client_in, user):
    exp = make_sft_experiment(user)
    task = exp.train_task
    original, template = task.name, task.input_template
    task.name, task.input_template = "renamed-later", "Changed:{x}"
    task.save()
    task.examples.all().delete()
    html = client_in.get(f"/experiments/{exp.pk}/").content.decode()
    section = html[html.index('id="provenance"'):html.index('id="loss"')]
    assert original in section and "renamed-later" not in section
    assert template.replace("\n", "\n") in section and "Changed:" not in section
    assert "<td class=\"num\">12</td>" in section  # the 12 examples it ran with
    assert "lr=0.001, 0.01, 0.03" in section and "(default)" in section


@pytest.mark.django_db
def test_queued_message_is_pluralised(client_in, user, no_engine_check):
    task = make_task(user, name="plural", n=12)
    one = client_in.post("/experiments/new/", experiment_post(task, methods=["sft"]), follow=True)
    assert "Queued 1 run." in one.content.decode()
    two = client_in.post("/experiments/new/", experiment_post(task, methods=["icl", "sft"]), follow=True)
    assert "Queued 2 runs." in two.content.decode()
    assert Experiment.objects.count() == 2


@pytest.mark.django_db
def test_field_errors_are_red_and_next_to_their_field(client):
    response = client.post("/accounts/signup/", {"username": "", "password1": "a", "password2": "b"})
    html = response.content.decode()
    assert 'class="field has-error"' in html and 'class="field-errors"' in html
    # the username's message sits inside the username's field block
    block = html[html.index('id="field-username"'):]
    block = block[:block.index("</div>")]
    assert "This field is required." in block


@pytest.mark.django_db
def test_run_again_with_changes_fills_the_form(client_in, user, other_user):
    exp = make_sft_experiment(user)
    exp.name, exp.n_values, exp.seeds, exp.lora_r = "first try", [2, 8], 3, 16
    exp.save()
    html = client_in.get(f"/experiments/new/?clone={exp.pk}").content.decode()
    assert 'value="first try (again)"' in html and 'value="2,8"' in html and 'name="seeds" value="3"' in html
    assert 'name="lora_r" value="16"' in html
    assert re.search(rf'<option value="{exp.train_task_id}" selected>', html)
    # someone else's experiment fills in nothing
    theirs = make_sft_experiment(other_user)
    assert "(again)" not in client_in.get(f"/experiments/new/?clone={theirs.pk}").content.decode()
