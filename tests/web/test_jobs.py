"""run_job (shared by the Celery task and the in-process worker): progress, results
in one transaction, artifacts, cancel, failure, and the throttled event recorder."""
import hashlib
from pathlib import Path

import pytest

from webapp.lab.models import Artifact, EvalResult, MetricPoint, Prediction, Run, RunEvent
from webapp.lab.services.events import ProgressRecorder
from webapp.lab.services.lifecycle import run_job
from workers.celery_tasks import execute_run

from .conftest import FakeRunner, experiment_post, make_run, make_sft_experiment


@pytest.fixture
def run(user):
    exp = make_sft_experiment(user)
    return make_run(exp, "sft", 4, 0)


@pytest.mark.django_db
def test_run_job_stores_everything(run, fake_runner, settings):
    assert run_job(run.pk) == "done"
    run.refresh_from_db()
    assert run.state == "done" and run.finished_at and run.started_at and run.heartbeat_at
    assert MetricPoint.objects.filter(run=run, series="sft/loss").count() == 20  # every loss point kept
    er = EvalResult.objects.get(run=run)
    assert er.accuracy == 0.75 and er.layers.count() == 3 and er.layers.get(layer=1).cka == 0.5
    assert Prediction.objects.filter(result=er, correct=False).count() == 1
    art = Artifact.objects.get(run=run)
    data = (Path(settings.MEDIA_ROOT) / art.path).read_bytes()
    assert hashlib.sha256(data).hexdigest() == art.sha256
    assert fake_runner.calls[0][1] == str(Path(settings.MEDIA_ROOT) / "cache")
    states = list(RunEvent.objects.filter(run=run, kind="state").values_list("message", flat=True))
    assert states[0].startswith("running") and states[-1].startswith("done")


@pytest.mark.django_db
def test_run_job_is_idempotent(run, fake_runner):
    run_job(run.pk)
    assert run_job(run.pk) == "done" and len(fake_runner.calls) == 1


@pytest.mark.django_db
def test_celery_task_calls_run_job(run, fake_runner):
    assert execute_run.run(run.pk) == "done"


@pytest.mark.django_db
def test_failure_is_reported(run, monkeypatch):
    monkeypatch.setattr("webapp.lab.services.lifecycle.load_runner", lambda: FakeRunner(fail=True))
    assert run_job(run.pk) == "failed"
    run.refresh_from_db()
    assert "boom: out of memory" in run.error and not EvalResult.objects.filter(run=run).exists()


@pytest.mark.django_db
def test_results_are_all_or_nothing(run, fake_runner, monkeypatch):
    def bad_bulk(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Prediction.objects, "bulk_create", bad_bulk)
    assert run_job(run.pk) == "failed"
    assert not EvalResult.objects.filter(run=run).exists() and not Artifact.objects.filter(run=run).exists()


@pytest.mark.django_db
def test_cancel_while_running(run, monkeypatch):
    """A cancel requested at step 5 stops the run at its next step (no waiting on a real
    clock: the job checks the flag at every step when CANCEL_POLL is 0)."""
    from webapp.lab.services import lifecycle

    monkeypatch.setattr(lifecycle, "CANCEL_POLL", 0.0)
    runner = FakeRunner(steps=50)
    monkeypatch.setattr("webapp.lab.services.lifecycle.load_runner", lambda: runner)
    original = runner.execute_run

    def execute(config, key, on_progress=None, should_cancel=None, cache_dir=None):
        def progress(ev):
            on_progress(ev)
            if ev.step == 5:
                Run.objects.filter(pk=run.pk).update(cancel_requested=True)
        return original(config, key, progress, should_cancel, cache_dir)

    runner.execute_run = execute
    assert run_job(run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.state == "cancelled" and run.step == 5 and not EvalResult.objects.filter(run=run).exists()
    assert MetricPoint.objects.filter(run=run).count() == 5  # the points before the cancel are kept


@pytest.mark.django_db
def test_recorder_throttles_events_but_keeps_points(run):
    clock = [0.0]
    rec = ProgressRecorder(run, min_interval=0.5, clock=lambda: clock[0])
    rec({"stage": "sft", "step": 0, "total": 100, "values": {}})
    for step in range(1, 101):
        clock[0] += 0.01  # 100 steps per second
        rec({"stage": "sft", "step": step, "total": 100, "values": {"loss": 1.0 / step}})
    rec.close()
    events = RunEvent.objects.filter(run=run, kind="progress").count()
    assert 2 <= events <= 5  # ~2 per second over one second
    assert MetricPoint.objects.filter(run=run).count() == 100
    run.refresh_from_db()
    assert run.step == 100 and run.heartbeat_at is not None


@pytest.mark.django_db
def test_recorder_eta_and_cancel_cache(run):
    clock = [0.0]
    rec = ProgressRecorder(run, min_interval=0.0, clock=lambda: clock[0])
    sft = {"method": "sft"}  # the engine places an SFT run's event: 10% before training, 80% training, 10% eval
    rec({"stage": "sft", "step": 0, "total": 10, "run": sft})
    clock[0] = 2.0
    rec({"stage": "sft", "step": 2, "total": 10, "run": sft})
    assert run.overall_progress == pytest.approx(0.1 + 0.8 * 0.2)
    assert run.eta_seconds == pytest.approx(2.0 / (0.8 * 0.2) * (1 - 0.26), abs=0.1)  # the whole run, not the stage
    assert rec.should_cancel() is False
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    assert rec.should_cancel() is False  # cached for 0.5 s
    clock[0] = 2.6
    assert rec.should_cancel() is True


@pytest.mark.django_db
def test_runs_keep_the_key_planned_at_launch(client_in, task, no_engine_check, fake_runner):
    """Planned once: each run stores the engine's RunKey at launch and the worker hands that
    key back to the engine, without planning again (a config edited after launch changes
    nothing)."""
    from dataclasses import asdict

    from webapp.lab.models import Experiment
    from workers.engine.plan import RunKey, plan_runs

    client_in.post("/experiments/new/", experiment_post(task, methods=["icl", "sft"], n_values="2,4"))
    exp = Experiment.objects.get()
    from webapp.lab.services.snapshots import resolve

    planned = plan_runs(resolve(exp.config))
    assert sorted(RunKey(**r.key).label() for r in exp.runs.all()) == sorted(k.label() for k in planned)
    assert all(r.key == asdict(r.engine_key()) for r in exp.runs.all()) and len(planned) == 4
    Experiment.objects.filter(pk=exp.pk).update(config={**exp.config, "methods": ["base"], "n": [1]})
    for run in exp.runs.order_by("id"):
        assert run_job(run.pk) == "done"
    assert [key for key, _ in fake_runner.calls] == [RunKey(**r.key) for r in exp.runs.order_by("id")]
    assert {type(key) for key, _ in fake_runner.calls} == {RunKey}


@pytest.mark.django_db
def test_run_without_a_planned_key_fails_with_the_reason(user, fake_runner):
    exp = make_sft_experiment(user)
    run = Run.objects.create(experiment=exp, method="sft", n=4, seed=0)  # not created by a launch
    assert run_job(run.pk) == "failed" and fake_runner.calls == []
    run.refresh_from_db()
    assert "no planned engine key" in run.error
