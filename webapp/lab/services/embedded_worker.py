"""Embedded single-machine mode: one background thread executes queued runs through
`lifecycle.run_job`, as the Celery task does (the reaper is `services.reaper`'s thread)."""
import logging
import queue
import threading

from django.db import close_old_connections

log = logging.getLogger("webapp.lab")
_queue = queue.Queue()
_thread = None
_lock = threading.Lock()


def start(recover=True):
    """Start the worker thread once; optionally re-queue runs left queued in the DB."""
    global _thread
    with _lock:
        if _thread is not None and _thread.is_alive():
            return _thread
        _thread = threading.Thread(target=_loop, name="lab-embedded-worker", daemon=True)
        _thread.start()
    if recover:
        from ..models import Run

        for run_id in Run.objects.filter(state=Run.QUEUED).order_by("id").values_list("id", flat=True):
            _queue.put(run_id)
    return _thread


def submit(run_id):
    start(recover=False)
    _queue.put(run_id)


_STOP = object()


def stop(timeout=10):
    """Stop the worker thread after its current job (used by tests and shutdown)."""
    global _thread
    with _lock:
        thread, _thread = _thread, None
    if thread is not None and thread.is_alive():
        _queue.put(_STOP)
        thread.join(timeout)


def _loop():
    from django.db import connection

    from .lifecycle import run_job

    while True:
        run_id = _queue.get()
        if run_id is _STOP:
            connection.close()
            return
        close_old_connections()
        try:
            run_job(run_id)
        except Exception:  # e.g. SQLite's "database is locked" before the claim: try again
            log.exception("embedded worker: job %s crashed", run_id)
            _retry_later(run_id)
        finally:
            connection.close()


_crashes = {}
CRASH_RETRIES = 3


def _retry_later(run_id):
    """A job that crashed outside the run's own error handling (so the run may still be
    queued) is put back, a second later, at most CRASH_RETRIES times."""
    _crashes[run_id] = _crashes.get(run_id, 0) + 1
    if _crashes[run_id] <= CRASH_RETRIES:
        threading.Timer(1.0, _queue.put, args=(run_id,)).start()
