"""Issue 10's named bad-input items, beyond the corpus (test_bad_input_corpus.py): the model
field reveals nothing about server paths, a failed run shows no traceback or server path,
and editing a task cannot strand its examples outside its label set."""
import logging

import pytest

from webapp.lab.models import Experiment, Run

from .conftest import experiment_post, make_run, make_task


@pytest.fixture
def odd_paths(tmp_path):
    """Server paths of every kind: missing, a folder that is no model, a file, a model
    folder whose config cannot be read (a folder where the file should be), one whose config
    is not JSON, and a relative folder of the project."""
    unreadable = tmp_path / "unreadable"
    (unreadable / "config.json").mkdir(parents=True)
    garbled = tmp_path / "garbled"
    garbled.mkdir()
    (garbled / "config.json").write_text("{ not json")
    return ["/nonexistent/model-dir", "/etc", "/etc/hostname", str(unreadable), str(garbled), "webapp/lab",
            str(tmp_path / "missing.gguf")]


@pytest.mark.django_db
def test_the_model_message_is_the_same_whatever_the_server_path(client_in, task, odd_paths):
    shown = set()
    for path in odd_paths:
        response = client_in.post("/experiments/new/", experiment_post(task, model_name=path))
        assert response.status_code == 200
        errors = response.context["form"].errors
        assert list(errors) == ["model_name"], (path, errors)
        shown.add(errors["model_name"][0].replace(path, "<path>"))
        preview = client_in.get(f"/tasks/{task.pk}/preview.json", {"model": path})
        assert preview.status_code == 200
        shown.add(preview.json()["readability"]["error"].replace(path, "<path>"))
    assert len(shown) == 1, shown
    assert "cannot be loaded on this server" in shown.pop()
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_an_edit_that_strands_examples_is_refused_and_names_them(client_in, user):
    task = make_task(user, labels=("positive", "negative", "neutral"), n=9)  # outputs cycle the three labels
    response = client_in.post(f"/tasks/{task.pk}/edit/", {
        "name": task.name, "description": "", "kind": "classification", "input_template": task.input_template,
        "answer_parser": "plain", "labels_text": "positive, negative"})
    assert response.status_code == 200
    message = response.context["form"].errors["labels_text"][0]
    assert '3 example(s)' in message and '#3 "neutral", #6 "neutral", #9 "neutral"' in message
    assert 'Add the label(s) "neutral", or edit or delete those examples first.' in message
    task.refresh_from_db()
    assert task.labels == ["positive", "negative", "neutral"]
    # renaming a label every example still fits is accepted
    ok = client_in.post(f"/tasks/{task.pk}/edit/", {
        "name": task.name, "description": "", "kind": "classification", "input_template": task.input_template,
        "answer_parser": "plain", "labels_text": "neutral, negative, positive"})
    assert ok.status_code == 302


@pytest.mark.slow
@pytest.mark.django_db
def test_a_run_the_engine_refuses_fails_with_its_message_and_no_traceback(user, caplog, settings):
    """The real engine and the embedded model, target_modules the model lacks written straight
    into an experiment (past the form, which refuses them): the run fails with the engine's
    message naming the field and the model's layers; the traceback is in the log only."""
    from webapp.lab.services.config import build_config
    from webapp.lab.services.lifecycle import run_job

    task = make_task(user)
    cfg = build_config(model_name="embedded", train_task=task, eval_tasks=[], methods=["sft"], n_values=[4],
                       seeds=1, icl_demos=None, eval_size=4, adapter_type="lora", lora_r=8, lora_alpha=8,
                       target_modules=["c_attn"])
    exp = Experiment.objects.create(owner=user, train_task=task, methods=["sft"], n_values=[4], config=cfg)
    run = make_run(exp)
    with caplog.at_level(logging.ERROR, logger="webapp.lab"):
        assert run_job(run.pk) == Run.FAILED
    run.refresh_from_db()
    assert "adapter.target_modules" in run.error and "c_attn" in run.error and "q_proj" in run.error
    for shown in (run.error, run.message, *run.events.values_list("message", flat=True)):
        assert "Traceback" not in shown and 'File "/' not in shown and settings.BASE_DIR.as_posix() not in shown
    assert any(r.exc_info for r in caplog.records), "the traceback goes to the worker's log"


@pytest.mark.django_db
def test_other_failures_show_no_server_path(user, monkeypatch):
    from webapp.lab.services.lifecycle import run_job

    from .conftest import make_sft_experiment

    class Runner:
        def execute_run(self, *args, **kwargs):
            open("/srv/lab/var/media/cache/secret/weights.bin")  # noqa: SIM115 - raises FileNotFoundError

    monkeypatch.setattr("webapp.lab.services.lifecycle.load_runner", lambda: Runner())
    run = make_run(make_sft_experiment(user))
    assert run_job(run.pk) == Run.FAILED
    run.refresh_from_db()
    assert run.error.startswith("FileNotFoundError:") and ".../weights.bin" in run.error
    assert "/srv/lab" not in run.error and "Traceback" not in run.error and "worker's log" in run.error
