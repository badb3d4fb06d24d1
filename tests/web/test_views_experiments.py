"""Experiment create/launch, cancel, history/results/examples JSON."""
import pytest

from webapp.lab.models import Experiment, Run
from webapp.lab.services import dispatch
from webapp.lab.services.lifecycle import run_job

from .conftest import experiment_post, make_task


@pytest.fixture
def experiment(client_in, task, no_engine_check, fake_runner):
    resp = client_in.post("/experiments/new/", experiment_post(task, methods=["icl", "sft", "ia2-sft"],
                                                               n_values="2,4", seeds=2))
    assert resp.status_code == 302, resp.context["form"].errors if resp.context else resp
    return Experiment.objects.get()


@pytest.mark.django_db
def test_create_expands_runs(experiment):
    runs = list(experiment.runs.all())
    assert len(runs) == 3 * 2 * 2
    assert {(r.method, r.n, r.seed) for r in runs} >= {("icl", 2, 0), ("ia2-sft", 4, 1)}
    assert all(r.state == "queued" and r.queue == "cpu" for r in runs)
    assert experiment.config["seeds"] == [0, 1] and experiment.config["task"]["name"] == "sentiment"


@pytest.mark.django_db
def test_form_page_preselects_embedded(client_in, task):
    page = client_in.get("/experiments/new/").content.decode()
    assert 'value="embedded"' in page and "IA2-&gt;SFT" in page


@pytest.mark.django_db(transaction=True)
def test_launch_queues_celery_jobs_on_right_queue(client_in, task, no_engine_check, fake_runner, settings,
                                                  monkeypatch):
    settings.LAB_EXECUTOR = "celery"
    settings.LAB_EXPECT_GPU_WORKER = True
    sent = []

    class Result:
        id = "celery-id"

    monkeypatch.setattr("webapp.celery_app.app.send_task",
                        lambda name, args, queue: sent.append((name, args, queue)) or Result())
    client_in.post("/experiments/new/", experiment_post(task, model_name="Qwen/Qwen3-4B-Base"))
    assert len(sent) == 2 and all(q == "gpu" for _, _, q in sent)
    # sent by name (the web app never imports the task module): the name the worker registers
    from workers.celery_tasks import execute_run

    assert {name for name, _, _ in sent} == {execute_run.name}
    assert sorted(args[0] for _, args, _ in sent) == sorted(Run.objects.values_list("id", flat=True))
    assert set(Run.objects.values_list("celery_task_id", flat=True)) == {"celery-id"}


def test_queue_routing(settings):
    settings.LAB_EXPECT_GPU_WORKER = True
    assert dispatch.queue_for("embedded") == "cpu" and dispatch.queue_for("meta-llama/Llama-3.2-1B") == "gpu"
    settings.LAB_EXPECT_GPU_WORKER = False
    assert dispatch.queue_for("meta-llama/Llama-3.2-1B") == "cpu"


@pytest.mark.django_db
def test_cancel_queued_run(client_in, experiment, fake_runner, monkeypatch):
    revoked = []
    monkeypatch.setattr(dispatch, "revoke", lambda run: revoked.append(run.id))
    run = experiment.runs.first()
    client_in.post(f"/experiments/{experiment.pk}/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    assert run.state == "cancelled" and run.cancel_requested and revoked == [run.id]
    assert run_job(run.pk) == "cancelled" and fake_runner.calls == []


@pytest.mark.django_db
def test_cancel_running_run_sets_flag(client_in, experiment):
    run = experiment.runs.first()
    Run.objects.filter(pk=run.pk).update(state="running")
    client_in.post(f"/experiments/{experiment.pk}/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    assert run.state == "running" and run.cancel_requested


@pytest.mark.django_db
def test_cancel_all(client_in, experiment):
    client_in.post(f"/experiments/{experiment.pk}/cancel/")
    assert set(experiment.runs.values_list("state", flat=True)) == {"cancelled"}


@pytest.mark.django_db
def test_detail_history_results_examples(client_in, experiment, fake_runner):
    for run in experiment.runs.filter(seed=0, n=4):
        assert run_job(run.pk) == "done"
    page = client_in.get(f"/experiments/{experiment.pk}/")
    assert page.status_code == 200 and b"plotly.min.js" in page.content
    hist = client_in.get(f"/experiments/{experiment.pk}/history.json").json()
    assert len(hist["runs"]) == 12 and hist["last_event"] > 0 and hist["last_point"] > 0
    sft = next(r for r in hist["runs"] if r["method"] == "sft" and r["n"] == 4 and r["seed"] == 0)
    assert hist["series"][str(sft["id"])]["sft/loss"]["values"][0] == 2.0
    res = client_in.get(f"/experiments/{experiment.pk}/results.json").json()
    assert res["methods"] == ["icl", "sft", "ia2-sft"] and res["n_values"] == [4]
    row = next(r for r in res["summary"] if r["method"] == "sft")
    assert row["accuracy"]["mean"] == 0.75 and row["seeds"] == 1
    assert res["icl_baseline"]["sentiment|4"]["accuracy"]["mean"] == 0.75
    assert any(layer["method"] == "ia2-sft" and layer["cosine"] == [0.9, 0.6, 0.8] for layer in res["layers"])
    assert len(res["table"]) == 3 and res["reliability"][0]["bins"][0]["count"] == 2
    ex = client_in.get(f"/experiments/{experiment.pk}/examples.json",
                       {"eval_task": "sentiment", "n": 4, "seed": 0}).json()
    assert len(ex["examples"]) == 4 and ex["examples"][0]["by_method"]["sft"]["correct"] is False
    assert client_in.get(f"/experiments/{experiment.pk}/examples.json").status_code == 400


@pytest.mark.django_db
def test_other_user_cannot_see_experiment(client, experiment, other_user):
    client.force_login(other_user)
    for url in ("", "history.json", "results.json"):
        assert client.get(f"/experiments/{experiment.pk}/{url}").status_code == 404


@pytest.mark.django_db
def test_eval_tasks_and_list_page(client_in, user, task, no_engine_check, fake_runner):
    other = make_task(user, name="other", n=6)
    client_in.post("/experiments/new/", experiment_post(task, eval_tasks=[task.pk, other.pk], methods=["sft"]))
    exp = Experiment.objects.get()
    assert sorted(t["name"] for t in exp.config["eval_tasks"]) == ["other", "sentiment"]
    run_job(exp.runs.get().pk)
    assert sorted(exp.runs.get().results.values_list("eval_task_name", flat=True)) == ["other", "sentiment"]
    assert b"1 done" in client_in.get("/experiments/").content
