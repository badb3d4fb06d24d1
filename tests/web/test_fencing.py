"""Fencing: each claim gives the run a new attempt token, and every write of a worker
(progress flush, heartbeat, results and artifacts, adapter overlaps, its final state) is
made only while the row holds that worker's token. A worker that was reaped but is still
alive leaves no trace on a run that another worker claimed again, and the new attempt's
results stand.

With real processes: the stale worker is a subprocess running `lifecycle.run_job` on the
test database (tests/web/stale_worker.py, a stubborn fake engine that waits on stdin); the
reaper takes the run from it; a real Celery worker (the real engine, Redis broker) claims it
again and finishes it; then the stale worker goes on. Plus the re-claim of a running run
(a redelivered job) and the overlaps, in one process with two attempts' run objects."""
import hashlib
import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from webapp.lab.models import AdapterOverlap, Artifact, EvalResult, Experiment, MetricPoint, Run, RunEvent, Task
from webapp.lab.services import lifecycle, overlaps
from webapp.lab.services.events import ProgressRecorder
from webapp.lab.services.results import AttemptSuperseded, store_results

from .conftest import experiment_post, fake_result, make_run, make_sft_experiment
from .live import ROOT, REDIS_URL, service_env, stop_process, wait_for
from .stale_worker import STALE_ACCURACY, STALE_LOSS
from .test_celery_worker import _start_worker, redis_mode  # noqa: F401 - the fixture


def _traces(run):
    """Everything a worker can write for a run, as it stands now."""
    results = [a for a in Artifact.objects.filter(run=run, kind="results")]
    return {
        "row": Run.objects.filter(pk=run.pk).values().get(),
        "points": sorted(MetricPoint.objects.filter(run=run).values_list("id", flat=True)),
        "results": sorted(EvalResult.objects.filter(run=run).values_list("id", "accuracy")),
        "artifacts": sorted(Artifact.objects.filter(run=run).values_list("id", "kind", "path")),
        "results_file": [hashlib.sha256((Path(settings.MEDIA_ROOT) / a.path).read_bytes()).hexdigest()
                         for a in results],
        "events": sorted(RunEvent.objects.filter(run=run).values_list("id", flat=True)),
        "overlaps": AdapterOverlap.objects.filter(experiment=run.experiment).count(),
    }


class StaleWorker:
    """tests/web/stale_worker.py as a subprocess on the test database."""

    def __init__(self, run_id, env):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.web.stale_worker", str(run_id)], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines = []

    def wait_for_line(self, prefix, timeout=120):
        import selectors

        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = timezone.now() + timedelta(seconds=timeout)
        while timezone.now() < deadline:
            if not sel.select(timeout=1):
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        raise AssertionError(f"the stale worker never printed {prefix!r}:\n" + "\n".join(self.lines[-60:]))

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the subprocesses see the rows
def test_a_reaped_worker_that_is_still_alive_leaves_no_trace(redis_mode, client, user):  # noqa: F811
    client.force_login(user)
    task = Task.objects.get(name="animal-or-fruit")
    resp = client.post("/experiments/new/", experiment_post(task, methods=["sft"], n_values="4", eval_size=10,
                                                            similarity_size=0))
    assert resp.status_code == 302
    run = Experiment.objects.get().runs.get()
    tmp = redis_mode["tmp"]
    env = service_env(DATABASE_URL=redis_mode["db_url"], REDIS_URL=REDIS_URL, LAB_EXECUTOR="celery",
                      MEDIA_ROOT=tmp / "media", LAB_VAR_DIR=tmp / "var", LAB_HEARTBEAT_TIMEOUT=3,  # it beats every s
                      OMP_NUM_THREADS=1)
    stale = StaleWorker(run.pk, env)
    worker = None
    try:
        stale.wait_for_line("CLAIMED")
        run.refresh_from_db()
        token = run.attempt_token
        assert run.state == "running" and token is not None and run.attempts == 1
        assert MetricPoint.objects.filter(run=run, value=111.0).exists()  # written while it owned the run

        # the reaper's verdict (its heartbeat, seen an hour from now, is stale): queued again, token cleared
        (reaped,) = lifecycle.reap_stale_runs(timeout=30, now=timezone.now() + timedelta(hours=1))
        assert reaped.pk == run.pk
        run.refresh_from_db()
        assert run.state == "queued" and run.attempt_token is None and not run.points.exists()

        worker = _start_worker(redis_mode, name="new-attempt")  # takes the launch's job: attempt 2
        wait_for(lambda: Run.objects.get(pk=run.pk).state in Run.FINAL_STATES, 240, interval=0.5,
                 what=f"the new attempt to finish (worker log:\n{worker.log()[-2000:]})")
        run.refresh_from_db()
        assert run.state == "done", run.error
        assert run.attempts == 2 and run.attempt_token not in (None, token)
        before = _traces(run)
        assert before["points"] and before["results"] and before["results_file"]

        stale.go()  # the stale attempt goes on: loss points, results, artifacts, its final state
        outcome = json.loads(stale.wait_for_line("RESULT "))
        assert stale.proc.wait(30) == 0, "\n".join(stale.lines[-60:])
    finally:
        stop_process(stale.proc)
        if worker is not None:
            worker.stop()

    assert outcome == {"run_job": lifecycle.SUPERSEDED, "set_state_done": False, "set_state_failed": False,
                       "heartbeat": 0, "store_results": "AttemptSuperseded", "overlaps": []}
    after = _traces(run)
    assert after == before  # not a row, a point, an event, a result, an artifact or a byte of results.json
    assert not MetricPoint.objects.filter(value=STALE_LOSS).exists()
    assert not EvalResult.objects.filter(accuracy=STALE_ACCURACY).exists()
    # the new attempt's results stand: the real engine's numbers on the task
    (result,) = EvalResult.objects.filter(run=run)
    assert result.eval_task_name == "animal-or-fruit" and result.accuracy is not None
    assert result.predictions.count() == 10


@pytest.mark.django_db
def test_a_redelivered_job_claims_the_run_again_and_the_old_attempt_is_fenced_off(user):
    """Running -> running (the claim of a redelivered job): the previous attempt's progress,
    results and final state are dropped; the new attempt's stand."""
    exp = make_sft_experiment(user)
    run = make_run(exp, "sft", state="queued")
    old, _ = lifecycle.claim(run.pk)
    recorder = ProgressRecorder(old, min_interval=0.0)
    recorder({"stage": "sft", "step": 1, "total": 10, "values": {"loss": 1.5}})
    assert MetricPoint.objects.filter(run=run).count() == 1
    # its owner looks gone: the redelivered job claims the run again
    Run.objects.filter(pk=run.pk).update(worker="another-host:1", heartbeat_at=timezone.now() - timedelta(hours=1))
    new, state = lifecycle.claim(run.pk)
    assert state == "running" and new.attempt_token != old.attempt_token and new.attempts == 2
    assert not MetricPoint.objects.filter(run=run).exists()  # the old attempt's rows are discarded

    recorder({"stage": "sft", "step": 2, "total": 10, "values": {"loss": STALE_LOSS}})
    recorder.close()
    assert not MetricPoint.objects.filter(run=run).exists()
    assert recorder.should_cancel()  # the old attempt is told to stop working on it
    with pytest.raises(AttemptSuperseded):
        store_results(old, [fake_result(old.engine_key(), "sentiment", acc=STALE_ACCURACY)])
    assert lifecycle.set_state(old, Run.FAILED, error="late") is None
    assert not EvalResult.objects.filter(run=run).exists() and not Artifact.objects.filter(run=run).exists()

    ProgressRecorder(new, min_interval=0.0)({"stage": "sft", "step": 1, "total": 10, "values": {"loss": 0.5}})
    store_results(new, [fake_result(new.engine_key(), "sentiment")])
    assert lifecycle.set_state(new, Run.DONE, message="done") is not None
    run.refresh_from_db()
    assert run.state == "done" and list(run.points.values_list("value", flat=True)) == [0.5]
    assert list(EvalResult.objects.filter(run=run).values_list("accuracy", flat=True)) == [0.75]


@pytest.mark.django_db
def test_overlaps_of_an_attempt_that_lost_the_run_are_dropped(user, monkeypatch):
    exp = make_sft_experiment(user)
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    runs = []
    for method in ("sft", "ia2-sft"):
        run = make_run(exp, method, state="done", attempts=1, attempt_token=uuid.uuid4())
        (media / f"{method}.safetensors").write_bytes(b"w")
        Artifact.objects.create(run=run, kind="adapter", path=f"{method}.safetensors", sha256="", size=1)
        runs.append(run)
    monkeypatch.setattr(overlaps, "measure_pair", lambda a, b: {"mean": 0.5, "random": 0.1, "per_module": {}})
    stale = Run.objects.get(pk=runs[1].pk)
    Run.objects.filter(pk=stale.pk).update(attempt_token=uuid.uuid4())  # another attempt owns it now
    assert overlaps.store_for_run(stale) == {runs[0].pk}  # measured, but not stored
    assert not AdapterOverlap.objects.exists()
    assert overlaps.store_for_run(Run.objects.get(pk=stale.pk)) == {runs[0].pk}  # the owner's are stored
    assert AdapterOverlap.objects.count() == 1
