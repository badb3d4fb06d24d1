"""The one periodic mechanism: every LAB_REAPER_INTERVAL seconds (default 10; 0 = none) a
`periodic_pass`: `lifecycle.reap_stale_runs`, then the outbox sweep
(`dispatch.send_pending` for queued runs committed more than LAB_DISPATCH_GRACE s ago and
never sent, e.g. because the web process died mid-launch, and for runs sent more than
LAB_DISPATCH_LEASE s ago and still not claimed, e.g. because Redis restarted empty). So a killed worker's run is failed within
LAB_HEARTBEAT_TIMEOUT + LAB_REAPER_INTERVAL seconds (30 + 10 by default) even when nobody
loads a page; the state change is broadcast to the experiment's websocket group like any other.

One mechanism per deployment:
- Redis mode: Celery beat sends the `reap_stale_runs` task (`webapp.celery_app.schedule_reaper`)
  to the maintenance queue, served by the scheduler process
  (`celery -A webapp.celery_app worker -B -Q maintenance`).
- Embedded mode: one daemon thread in the single web process (`start_periodic_reaper`,
  started by `python -m webapp.serve` next to the embedded worker thread).
`manage.py reap_runs` does one pass by hand. Views and jobs never reap.
"""
import logging
import threading

from django.conf import settings

from . import artifacts, dispatch
from .lifecycle import reap_stale_runs

log = logging.getLogger("webapp.lab")


def periodic_pass():
    """One pass: reap dead attempts, then send what the outbox still holds and what the
    broker lost (lease run out). Returns (reaped runs, number of runs sent)."""
    reaped = reap_stale_runs()
    artifacts.sweep_if_due()  # orphan artifact files, at most every LAB_ARTIFACT_SWEEP_INTERVAL s
    sent = dispatch.send_pending(older_than=settings.LAB_DISPATCH_GRACE, lease=settings.LAB_DISPATCH_LEASE)
    if sent:
        log.warning("outbox sweep sent %s run(s) never sent or sent but not claimed within the lease", sent)
    return reaped, sent


class PeriodicReaper(threading.Thread):
    """Daemon thread: a reaper pass every `interval` seconds until stopped."""

    def __init__(self, interval):
        super().__init__(name="lab-reaper", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()
        self.passes = 0

    def run(self):
        from django.db import close_old_connections, connection

        while not self.stopped.wait(self.interval):
            close_old_connections()
            try:
                periodic_pass()
            except Exception:  # noqa: BLE001 - e.g. the database is down; the next pass retries
                log.warning("periodic reaper pass failed", exc_info=True)
            finally:
                self.passes += 1
                connection.close()  # back to the pool (or closed): the thread idles between passes

    def stop(self, timeout=5):
        self.stopped.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)


_reaper = None
_lock = threading.Lock()


def start_periodic_reaper(interval=None):
    """Start this process's reaper thread once; None when disabled (interval 0)."""
    global _reaper
    interval = settings.LAB_REAPER_INTERVAL if interval is None else interval
    if not interval or interval <= 0:
        return None
    with _lock:
        if _reaper is None or not _reaper.is_alive():
            _reaper = PeriodicReaper(interval)
            _reaper.start()
        return _reaper


def stop_periodic_reaper(timeout=5):
    global _reaper
    with _lock:
        reaper, _reaper = _reaper, None
    if reaper is not None:
        reaper.stop(timeout)
