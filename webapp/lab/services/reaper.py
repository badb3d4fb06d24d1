"""Mark runs whose worker stopped sending heartbeats as failed.

`lifecycle.reap_stale_runs` does one pass (one indexed query when nothing is stale). Passes run:
- periodically in every web process: `start_periodic_reaper()` starts a daemon thread
  (every LAB_REAPER_INTERVAL seconds, default 10; 0 disables it, as under pytest). It is
  started by `python -m webapp.serve` and by the ASGI lifespan startup (`webapp.asgi`), so a
  killed worker's run is failed within LAB_HEARTBEAT_TIMEOUT + LAB_REAPER_INTERVAL seconds
  (30 + 10 by default) even when nobody loads a page; the state change is broadcast to the
  experiment's websocket group like any other;
- when a job starts, in every job's heartbeat thread, and by `manage.py reap_runs`.
Several reapers at once are safe: only the one that flips a row reports it.
"""
import logging
import threading

from django.conf import settings

from .lifecycle import reap_stale_runs

log = logging.getLogger("webapp.lab")


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
                reap_stale_runs()
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
