"""Celery task `execute_run(run_id)` and the shared `run_job(run_id)` it wraps.

The in-process worker of embedded mode calls `run_job` too, so both paths are the
same. The engine (`workers.engine.*`, which needs torch) is imported lazily inside
the functions here, never at module import.

Redelivered jobs (acks_late + task_reject_on_worker_lost: a prefork child killed mid-run,
e.g. by the OOM killer, has its message put back on the queue): the run is still
"running" in the database, so `_claim` asks whether the process that claimed it is gone
(same host and its pid no longer exists, or its heartbeat is older than
LAB_HEARTBEAT_TIMEOUT). If so the run is claimed again and started from scratch (its
partial rows are discarded), at most LAB_MAX_ATTEMPTS times in all; after that it is
failed with the reason. When the owner may still be alive (another host, fresh heartbeat)
a redelivered job watches the heartbeat for a little over two heartbeat periods: it
re-claims the run if the heartbeat did not move, and leaves it alone if it did.
"""
import logging
import os
import socket
import threading
import time
import traceback
from pathlib import Path

from webapp.celery_app import app

log = logging.getLogger("webapp.lab")
HEARTBEAT_EVERY = 10.0
REAP_EVERY = 30.0
REDELIVERY_POLL = 1.0


def _load_runner():
    from workers.engine import runner

    return runner


def engine_config(config):
    """The engine's runner accepts the config dict (CONTRACT.md: 'dict for the web')."""
    return config


def plan_runs(config):
    """(method, n, seed) triples from the engine's torch-free planner (`workers.engine.plan`)."""
    from workers.engine.plan import plan_runs as engine_plan

    return [(k.method, int(k.n), int(k.seed)) for k in engine_plan(engine_config(config))]


def _find_key(runner, config, run):
    for key in runner.plan_runs(config):
        if (key.method, int(key.n), int(key.seed)) == (run.method, run.n, run.seed):
            return key
    raise RuntimeError(f"the engine's plan has no run {run.method} N={run.n} seed={run.seed}")


def _is_cancelled(exc):
    try:
        from workers.engine.progress import Cancelled
    except ImportError:
        return type(exc).__name__ == "Cancelled"
    return isinstance(exc, Cancelled)


def heartbeat_interval():
    """Seconds between heartbeats: HEARTBEAT_EVERY, or less so that three fit in the timeout."""
    from django.conf import settings

    return min(HEARTBEAT_EVERY, settings.LAB_HEARTBEAT_TIMEOUT / 3)


def worker_id():
    """"host:pid" of this process, stored on the runs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def owner_lost(run, now=None, timeout=None):
    """Why the process that claimed this running run is known to be gone, or None when it
    may still be working on it."""
    from django.conf import settings
    from django.utils import timezone

    host, _, pid = (run.worker or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
        return f"worker process {pid} on {host} is gone"
    timeout = settings.LAB_HEARTBEAT_TIMEOUT if timeout is None else timeout
    last = run.heartbeat_at or run.started_at
    age = ((now or timezone.now()) - last).total_seconds() if last else None
    if age is None or age > timeout:
        return f"no heartbeat for {timeout} s"
    return None


class _Heartbeat(threading.Thread):
    """Bumps the run's heartbeat while the job runs and reaps dead runs periodically."""

    def __init__(self, run_id, worker=""):
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.run_id = run_id
        self.worker = worker
        self.stopped = threading.Event()

    def run(self):
        from django.db import close_old_connections, connection
        from django.utils import timezone

        from webapp.lab.models import Run
        from webapp.lab.services.reaper import reap_stale_runs

        every = heartbeat_interval()
        waited = 0.0
        try:
            while not self.stopped.wait(every):
                close_old_connections()
                try:
                    # only while this process still owns the run (it may have been claimed again)
                    Run.objects.filter(id=self.run_id, state=Run.RUNNING, worker=self.worker).update(
                        heartbeat_at=timezone.now())
                    waited += every
                    if waited >= REAP_EVERY:
                        waited = 0.0
                        reap_stale_runs()
                except Exception:
                    log.warning("heartbeat for run %s failed", self.run_id, exc_info=True)
        finally:
            connection.close()

    def stop(self):
        self.stopped.set()


def _discard_partial(run):
    """Rows a dead attempt may have left (loss points, results): the new attempt rewrites them."""
    from webapp.lab.models import Artifact, EvalResult, MetricPoint

    MetricPoint.objects.filter(run=run).delete()
    EvalResult.objects.filter(run=run).delete()
    Artifact.objects.filter(run=run).delete()


def _claim(run_id, presumed_lost=None, seen_heartbeat=None):
    """Atomically move a queued run to running, or re-claim a running run whose worker is
    gone. Returns (run, "running") when this process now owns it, else (None, state).
    `presumed_lost`: reason to treat the owner as gone if the heartbeat is still
    `seen_heartbeat` (a redelivered job that watched it stand still)."""
    from django.conf import settings
    from django.db import transaction

    from webapp.lab.models import Run
    from webapp.lab.services.events import note, set_state

    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("experiment").filter(id=run_id).first()
        if run is None:
            return None, "missing"
        fresh_start = run.state == Run.QUEUED
        if run.state == Run.RUNNING:
            lost = owner_lost(run)
            if lost is None and presumed_lost and run.heartbeat_at == seen_heartbeat:
                lost = presumed_lost
            if lost is None:
                return None, Run.RUNNING  # another live worker has it
            if run.attempts >= settings.LAB_MAX_ATTEMPTS:
                reason = (f"worker lost ({lost}) during attempt {run.attempts}; not started again "
                          f"(at most {settings.LAB_MAX_ATTEMPTS} attempts)")
                set_state(run, Run.FAILED, message=reason, error=reason)
                return None, Run.FAILED
            _discard_partial(run)
            note(run, f"worker lost ({lost}); starting the run again")
            log.warning("run %s: worker lost (%s); claimed again by %s", run.id, lost, worker_id())
        elif not fresh_start:
            return None, run.state
        if run.cancel_requested:
            set_state(run, Run.CANCELLED, message="cancelled before it started" if fresh_start else "cancelled")
            return None, Run.CANCELLED
        attempt = run.attempts + 1
        set_state(run, Run.RUNNING, message="started" if attempt == 1 else f"started again (attempt {attempt})",
                  attempts=attempt, worker=worker_id()[:200], stage="", step=0, eta_seconds=None)
    return run, Run.RUNNING


def _claim_redelivered(run_id):
    """A redelivered job found its run running with a fresh heartbeat and an owner it cannot
    check (another host): watch the heartbeat. If it moves, the owner is alive: leave the
    run. If it stands still for over two heartbeat periods, claim the run again (before the
    reaper's LAB_HEARTBEAT_TIMEOUT would fail it)."""
    from webapp.lab.models import Run

    row = Run.objects.filter(id=run_id).values_list("state", "heartbeat_at").first()
    if row is None or row[0] != Run.RUNNING:
        return _claim(run_id)
    seen = row[1]
    patience = 2 * heartbeat_interval() + 2 * REDELIVERY_POLL
    started = time.monotonic()
    while True:
        time.sleep(REDELIVERY_POLL)
        row = Run.objects.filter(id=run_id).values_list("state", "heartbeat_at").first()
        if row is None or row[0] != Run.RUNNING:
            return None, row[0] if row else "missing"
        if row[1] != seen:
            return None, Run.RUNNING  # the owner is alive
        waited = time.monotonic() - started
        if waited >= patience:
            return _claim(run_id, presumed_lost=f"no heartbeat for {waited:.0f} s after the job was redelivered",
                          seen_heartbeat=seen)


def run_job(run_id, redelivered=False):
    """Execute one run end to end; returns its final state (or the state that made it skip
    the run). `redelivered`: the broker says this message was delivered before."""
    from django.conf import settings

    from webapp.lab.models import Run
    from webapp.lab.services.events import ProgressRecorder, set_state
    from webapp.lab.services.reaper import reap_stale_runs
    from webapp.lab.services.results import store_results

    run, state = _claim(run_id)  # before reaping: a stale run of this job is claimed again, not failed
    if run is None and state == Run.RUNNING and redelivered:
        run, state = _claim_redelivered(run_id)
    reap_stale_runs()
    if run is None:
        return state
    recorder = ProgressRecorder(run)
    heartbeat = _Heartbeat(run.id, run.worker)
    heartbeat.start()
    try:
        runner = _load_runner()
        config = engine_config(dict(run.experiment.config))
        key = _find_key(runner, config, run)
        cache_dir = Path(settings.MEDIA_ROOT) / "cache"
        cache_dir.mkdir(parents=True, exist_ok=True)
        results = runner.execute_run(config, key, on_progress=recorder, should_cancel=recorder.should_cancel,
                                     cache_dir=str(cache_dir))
        recorder.close()
        store_results(run, list(results or []))
        set_state(run, Run.DONE, message="done")
        return Run.DONE
    except Exception as exc:  # noqa: BLE001 - every failure is reported on the run
        try:
            recorder.close()
        except Exception:
            log.warning("could not flush progress of run %s", run.id, exc_info=True)
        if _is_cancelled(exc):
            set_state(run, Run.CANCELLED, message="cancelled by the user")
            return Run.CANCELLED
        log.exception("run %s failed", run.id)
        tail = "".join(traceback.format_exception(exc)[-3:])
        set_state(run, Run.FAILED, message=f"{type(exc).__name__}: {exc}"[:500], error=f"{type(exc).__name__}: {exc}\n\n{tail}")
        return Run.FAILED
    finally:
        heartbeat.stop()


@app.task(name="workers.celery_tasks.execute_run", acks_late=True, bind=True)
def execute_run(self, run_id):
    """Celery entry point: one run per job."""
    delivery = getattr(self.request, "delivery_info", None) or {}
    return run_job(int(run_id), redelivered=bool(delivery.get("redelivered")))
