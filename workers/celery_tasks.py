"""Celery task `execute_run(run_id)` and the shared `run_job(run_id)` it wraps.

The in-process worker of embedded mode calls `run_job` too, so both paths are the
same. The engine (`workers.engine.*`, which needs torch) is imported lazily inside
the functions here, never at module import.
"""
import logging
import threading
import traceback
from pathlib import Path

from webapp.celery_app import app

log = logging.getLogger("webapp.lab")
HEARTBEAT_EVERY = 10.0
REAP_EVERY = 30.0


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


class _Heartbeat(threading.Thread):
    """Bumps the run's heartbeat while the job runs and reaps dead runs periodically."""

    def __init__(self, run_id):
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.run_id = run_id
        self.stopped = threading.Event()

    def run(self):
        from django.db import close_old_connections, connection
        from django.utils import timezone

        from webapp.lab.models import Run
        from webapp.lab.services.reaper import reap_stale_runs

        waited = 0.0
        try:
            while not self.stopped.wait(HEARTBEAT_EVERY):
                close_old_connections()
                try:
                    Run.objects.filter(id=self.run_id, state=Run.RUNNING).update(heartbeat_at=timezone.now())
                    waited += HEARTBEAT_EVERY
                    if waited >= REAP_EVERY:
                        waited = 0.0
                        reap_stale_runs()
                except Exception:
                    log.warning("heartbeat for run %s failed", self.run_id, exc_info=True)
        finally:
            connection.close()

    def stop(self):
        self.stopped.set()


def _claim(run_id):
    """Atomically move a queued run to running; None when it is not (or no longer) queued."""
    from django.db import transaction

    from webapp.lab.models import Run
    from webapp.lab.services.events import set_state

    with transaction.atomic():
        run = Run.objects.select_for_update().select_related("experiment").filter(id=run_id).first()
        if run is None or run.state != Run.QUEUED:
            return None, (run.state if run else "missing")
        if run.cancel_requested:
            set_state(run, Run.CANCELLED, message="cancelled before it started")
            return None, Run.CANCELLED
        set_state(run, Run.RUNNING, message="started")
    return run, Run.RUNNING


def run_job(run_id):
    """Execute one run end to end; returns its final state."""
    from django.conf import settings

    from webapp.lab.models import Run
    from webapp.lab.services.events import ProgressRecorder, set_state
    from webapp.lab.services.reaper import reap_stale_runs
    from webapp.lab.services.results import store_results

    reap_stale_runs()
    run, state = _claim(run_id)
    if run is None:
        return state
    recorder = ProgressRecorder(run)
    heartbeat = _Heartbeat(run.id)
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


@app.task(name="workers.celery_tasks.execute_run", acks_late=True)
def execute_run(run_id):
    """Celery entry point: one run per job."""
    return run_job(int(run_id))
