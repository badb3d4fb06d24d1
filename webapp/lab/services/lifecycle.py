"""A run's life: queued -> running (claimed by one worker process, kept alive by its
heartbeat) -> done | failed | cancelled. The allowed moves are the table `Run.TRANSITIONS`.

Every state change goes through `set_state`: it refuses a move the table does not allow
(IllegalTransition), and applies the move only if the row still is as the caller read it
(state and attempt token: a compare-and-set, so a reaper, a claim and a cancel racing on
one run cannot both win); then row, 'state' event, websocket broadcast and cache
invalidation in one transaction.

Fencing: each claim gives the run a new `attempt_token`; the reaper and a retry clear it.
Every write of a worker (progress flush, heartbeat, results and artifacts, adapter
overlaps, its final state) is made only while the row holds that worker's token, so a
worker that was reaped but is still alive leaves no trace on a run another attempt owns
(its writes are dropped; `run_job` then returns SUPERSEDED). Who calls what:
- `run_job(run_id)` executes one run end to end. The Celery task
  (`workers.celery_tasks.execute_run`, a thin adapter) and the embedded worker thread
  (`embedded_worker`) both call it; the web app never imports the Celery task module.
- `reap_stale_runs()` applies the retry rule (`worker_lost`: queued again while attempts
  remain, else failed) to runs whose worker stopped beating. It runs periodically, from
  one mechanism per deployment (`services.reaper`: Celery beat in Redis mode, one thread in
  embedded mode), and from `manage.py reap_runs`; never from a view or a job.
- `cancel_run(run, revoke)` and `retry_run(run, send)` are the state changes of the user's
  cancel and retry (`services.run_actions` is what the pages and the API call).

Redelivered jobs (acks_late + task_reject_on_worker_lost: a prefork child killed mid-run,
e.g. by the OOM killer, has its message put back on the queue): the run is still
"running" in the database, so `claim` asks whether the process that claimed it is gone
(same host and its pid no longer exists, or its heartbeat is older than
LAB_HEARTBEAT_TIMEOUT). If so the run is claimed again and started from scratch (its
partial rows are discarded), at most LAB_MAX_ATTEMPTS times in all; after that it is
failed with the reason. When the owner may still be alive (another host, fresh heartbeat)
a redelivered job watches the heartbeat for a little over two heartbeat periods
(`claim_redelivered`): it re-claims the run if the heartbeat did not move, and leaves it
alone if it did.

The engine (`workers.engine.runner`, which needs torch) is imported lazily by
`load_runner`, only in the process that executes a run.
"""
import logging
import os
import re
import socket
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..models import AdapterOverlap, Artifact, EvalResult, MetricPoint, Run, RunEvent
from .events import ProgressRecorder, bump_results_version, publish_on_commit
from . import overlaps, provenance, snapshots
from .results import AttemptSuperseded, store_results

log = logging.getLogger("webapp.lab")
HEARTBEAT_EVERY = 10.0
REDELIVERY_POLL = 1.0
CANCEL_POLL = 0.5  # seconds a "cancel requested?" answer is reused by a running job
SUPERSEDED = "superseded"  # what run_job returns when its attempt lost the run to another


# --- state changes ----------------------------------------------------------

def _state_values(run, state, message, error, fields):
    """The row's new values for a move of `run` to `state`."""
    now = timezone.now()
    values = {"state": state, "message": message or run.message, "error": run.error if error is None else error,
              "started_at": run.started_at, "heartbeat_at": run.heartbeat_at, "finished_at": run.finished_at,
              "eta_seconds": run.eta_seconds, "step": run.step}
    if state == Run.RUNNING:
        values["started_at"] = run.started_at or now
        values["heartbeat_at"] = now
    if state in Run.FINAL_STATES:
        values["finished_at"] = now
        values["eta_seconds"] = None
        if state == Run.DONE:
            values["step"] = run.total or run.step
    values.update(fields)
    return values


def set_state(run, state, message="", error=None, lost_attempt=None, **fields):
    """Move a run from the state (and attempt token) it had when read to `state`, persist a
    'state' event and broadcast it. IllegalTransition for a move `Run.TRANSITIONS` does not
    allow. None, and `run` left as it was, when the row no longer has that state and token
    (another attempt, the reaper or a cancel got there first). `lost_attempt`: the event
    records that attempt's death (the page lists them)."""
    Run.check_transition(run.state, state)
    values = _state_values(run, state, message, error, fields)
    with transaction.atomic():
        if Run.objects.filter(pk=run.pk, state=run.state, attempt_token=run.attempt_token).update(**values) != 1:
            log.warning("run %s: %s -> %s dropped, the run changed meanwhile", run.pk, run.state, state)
            return None
        for key, value in values.items():
            setattr(run, key, value)
        ev = RunEvent.objects.create(run=run, kind="state", stage=run.stage, step=run.step, total=run.total,
                                     message=f"{state}: {message or error or ''}".strip(": "),
                                     lost_attempt=lost_attempt)
        bump_results_version(run.experiment_id)
    publish_on_commit(run, ev)
    return ev


def note(run, message, lost_attempt=None):
    """Persist and broadcast a state note without touching the run's row."""
    ev = RunEvent.objects.create(run=run, kind="state", stage=run.stage, step=run.step, total=run.total,
                                 message=message, lost_attempt=lost_attempt)
    publish_on_commit(run, ev)
    return ev


def cancel_run(run, revoke):
    """Flag the run; a queued one is cancelled now (and `revoke(run)` drops its queued job),
    a running one stops at its next step. Returns (changed, broker_reached)."""
    if not run.can_cancel:
        return False, True
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.cancel_requested = True
    broker_ok = True
    if run.state == Run.QUEUED:
        # a worker that claims it meanwhile sees the flag and stops (the move below is then dropped)
        if set_state(run, Run.CANCELLED, message="cancelled before it started") is not None:
            broker_ok = revoke(run) is not False
    else:
        note(run, "cancel requested")
    return True, broker_ok


# --- who owns a running run -------------------------------------------------

def worker_id():
    """"host:pid" of this process, stored on the runs it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat_interval():
    """Seconds between heartbeats: HEARTBEAT_EVERY, or less so that three fit in the timeout."""
    return min(HEARTBEAT_EVERY, settings.LAB_HEARTBEAT_TIMEOUT / 3)


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
    host, _, pid = (run.worker or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
        return f"worker process {pid} on {host} is gone"
    timeout = settings.LAB_HEARTBEAT_TIMEOUT if timeout is None else timeout
    last = run.heartbeat_at or run.started_at
    age = ((now or timezone.now()) - last).total_seconds() if last else None
    if age is None or age > timeout:
        return f"no heartbeat for {timeout} s"
    return None


class Heartbeat(threading.Thread):
    """Bumps the run's heartbeat while this attempt owns it (its token) and the job runs."""

    def __init__(self, run):
        super().__init__(name=f"heartbeat-{run.pk}", daemon=True)
        self.owned = run.attempt_rows().filter(state=Run.RUNNING)  # not once it was claimed again or reaped
        self.run_id = run.pk
        self.stopped = threading.Event()

    def run(self):
        try:
            while not self.stopped.wait(heartbeat_interval()):
                close_old_connections()
                try:
                    self.owned.update(heartbeat_at=timezone.now())
                except Exception:
                    log.warning("heartbeat for run %s failed", self.run_id, exc_info=True)
        finally:
            connection.close()

    def stop(self):
        self.stopped.set()


# --- dead attempts ----------------------------------------------------------

def stale_reason(timeout):
    return f"worker lost (no heartbeat for {timeout} s)"


def reap_stale_runs(timeout=None, now=None):
    """Handle 'running' runs whose heartbeat is older than `timeout` seconds (their worker
    died): each is queued again (`requeue`) while it has attempts left, else failed with the
    reason; return them. One indexed query when nothing is stale. Several reapers at once
    are safe: only the one that flips a row reports it."""
    timeout = settings.LAB_HEARTBEAT_TIMEOUT if timeout is None else timeout
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=timeout)
    stale = Run.objects.filter(state=Run.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    reaped = []
    for run in stale:
        if worker_lost(run, stale_reason(timeout)):
            reaped.append(run)
    return reaped


def worker_lost(run, reason):
    """The one retry rule: a run whose worker died is queued again, and started from scratch,
    until it has been started LAB_MAX_ATTEMPTS times; then it is failed. Either way the
    attempt's token is cleared (the worker, if it still lives, can write nothing more). Each
    loss is a state event with its reason and `lost_attempt` (the run's history on the
    experiment page). False when the run was no longer that running attempt (another
    reaper, or a redelivered job that claimed it, got there first)."""
    limit = settings.LAB_MAX_ATTEMPTS
    lost = {"lost_attempt": run.attempts, "attempt_token": None}
    with transaction.atomic():  # the flip and its reason are seen together
        if run.attempts < limit:
            message = f"{reason} during attempt {run.attempts} of {limit}; queued again"
            if set_state(run, Run.QUEUED, message=message, worker="", dispatched_at=None, heartbeat_at=None,
                         stage="", step=0, **lost) is None:
                return False
            discard_partial(run)
        else:
            message = f"{reason} during attempt {run.attempts} of {limit}; not started again"
            if set_state(run, Run.FAILED, message=message, error=message, **lost) is None:
                return False
    log.warning("run %s: %s", run.id, message)
    return True


def retry_run(run, send):
    """A user's retry of a failed or cancelled run (`Run.can_retry`): queued again with a fresh
    attempt count and no attempt token (partial rows discarded), then `send(run_ids)` hands it
    to the executor after commit. False when the run cannot be retried."""
    if not run.can_retry:
        return False
    was = run.state
    with transaction.atomic():
        if set_state(run, Run.QUEUED, message=f"retried by the user (was {was})", error="", attempts=0,
                     worker="", attempt_token=None, dispatched_at=None, heartbeat_at=None, started_at=None,
                     finished_at=None, cancel_requested=False, stage="", step=0, queued_at=timezone.now()) is None:
            return False
        discard_partial(run)
        send([run.id])
    return True


def discard_partial(run):
    """Rows a dead attempt may have left (loss points, results, provenance, adapter overlaps):
    the new attempt rewrites them."""
    Run.objects.filter(pk=run.pk).update(provenance={})
    MetricPoint.objects.filter(run=run).delete()
    AdapterOverlap.objects.filter(Q(run_a=run) | Q(run_b=run)).delete()
    EvalResult.objects.filter(run=run).delete()
    Artifact.objects.filter(run=run).delete()


# --- claiming ---------------------------------------------------------------

def claim(run_id, presumed_lost=None, seen_heartbeat=None):
    """Atomically move a queued run to running, or re-claim a running run whose worker is
    gone. Returns (run, "running") when this process now owns it, else (None, state).
    `presumed_lost`: reason to treat the owner as gone if the heartbeat is still
    `seen_heartbeat` (a redelivered job that watched it stand still)."""
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
                reason = (f"worker lost ({lost}) during attempt {run.attempts} of {settings.LAB_MAX_ATTEMPTS}; "
                          "not started again")
                set_state(run, Run.FAILED, message=reason, error=reason, lost_attempt=run.attempts,
                          attempt_token=None)
                return None, Run.FAILED
            discard_partial(run)
            note(run, f"worker lost ({lost}) during attempt {run.attempts} of {settings.LAB_MAX_ATTEMPTS}; "
                      "starting the run again", lost_attempt=run.attempts)
            log.warning("run %s: worker lost (%s); claimed again by %s", run.id, lost, worker_id())
        elif not fresh_start:
            return None, run.state
        if run.cancel_requested:
            set_state(run, Run.CANCELLED, message="cancelled before it started" if fresh_start else "cancelled",
                      attempt_token=None)
            return None, Run.CANCELLED
        attempt = run.attempts + 1
        set_state(run, Run.RUNNING, message="started" if attempt == 1 else f"started again (attempt {attempt})",
                  attempts=attempt, worker=worker_id()[:200], attempt_token=uuid.uuid4(), stage="", step=0,
                  eta_seconds=None)
    return run, Run.RUNNING


def claim_redelivered(run_id, sleep=time.sleep, clock=time.monotonic):
    """A redelivered job found its run running with a fresh heartbeat and an owner it cannot
    check (another host): watch the heartbeat. If it moves, the owner is alive: leave the
    run. If it stands still for over two heartbeat periods, claim the run again (before the
    reaper's LAB_HEARTBEAT_TIMEOUT would fail it). `sleep` and `clock` are injectable."""
    row = Run.objects.filter(id=run_id).values_list("state", "heartbeat_at").first()
    if row is None or row[0] != Run.RUNNING:
        return claim(run_id)
    seen = row[1]
    patience = 2 * heartbeat_interval() + 2 * REDELIVERY_POLL
    started = clock()
    while True:
        sleep(REDELIVERY_POLL)
        row = Run.objects.filter(id=run_id).values_list("state", "heartbeat_at").first()
        if row is None or row[0] != Run.RUNNING:
            return None, row[0] if row else "missing"
        if row[1] != seen:
            return None, Run.RUNNING  # the owner is alive
        waited = clock() - started
        if waited >= patience:
            return claim(run_id, presumed_lost=f"no heartbeat for {waited:.0f} s after the job was redelivered",
                         seen_heartbeat=seen)


# --- executing --------------------------------------------------------------

def load_runner():
    """The engine's runner (imports torch): only the process that executes runs loads it."""
    from workers.engine import runner

    return runner


def _is_cancelled(exc):
    from workers.engine.progress import Cancelled

    return isinstance(exc, Cancelled)


_SERVER_PATH = re.compile(r"(?<![\w.~])/(?:[^/\s'\"]+/)+")


def failure_message(run, exc):
    """What the run's page shows of a failure: the engine's own message for a problem the user
    can act on (a ConfigError names the field and the fix); otherwise the exception's type and
    message with server folders cut from any path. Never the traceback."""
    from workers.engine.errors import EngineError, ModelLoadError

    from .model_errors import public_model_error

    if isinstance(exc, ModelLoadError):
        return public_model_error(run.experiment.model_name, exc)
    if isinstance(exc, EngineError):
        return str(exc)
    text = _SERVER_PATH.sub(".../", str(exc))
    return f"{type(exc).__name__}: {text} (the details are in the worker's log)"


def run_job(run_id, redelivered=False):
    """Execute one run end to end; returns its final state (or the state that made it skip
    the run). `redelivered`: the broker says this message was delivered before."""
    run, state = claim(run_id)
    if run is None and state == Run.RUNNING and redelivered:
        run, state = claim_redelivered(run_id)
    if run is None:
        return state
    recorder = ProgressRecorder(run, cancel_poll=CANCEL_POLL)
    heartbeat = Heartbeat(run)
    heartbeat.start()
    try:
        runner = load_runner()
        config = snapshots.resolve(run.experiment.config)  # the task pools frozen at launch
        cache_dir = Path(settings.MEDIA_ROOT) / "cache"
        cache_dir.mkdir(parents=True, exist_ok=True)
        results = list(runner.execute_run(config, run.engine_key(), on_progress=recorder,
                                          should_cancel=recorder.should_cancel, cache_dir=str(cache_dir)) or [])
        recorder.close()
        store_results(run, results, provenance=provenance.for_run(config, run.engine_key(), results))
        # the LoRA subspace overlap with the adapters of the done runs at this N and seed:
        # stored before "done" so that the page's refresh sees it, and once more after, for
        # a partner that finished at the same moment (a failure is logged, never fails the run)
        tried = overlaps.store_safely(run)
        if set_state(run, Run.DONE, message="done") is None:
            return _superseded(run)
        overlaps.store_safely(run, tried)
        return Run.DONE
    except AttemptSuperseded:
        return _superseded(run)
    except Exception as exc:  # noqa: BLE001 - every failure is reported on the run
        try:
            recorder.close()
        except Exception:
            log.warning("could not flush progress of run %s", run.id, exc_info=True)
        if _is_cancelled(exc):
            ended = set_state(run, Run.CANCELLED, message="cancelled by the user")
            return Run.CANCELLED if ended else _superseded(run)
        log.exception("run %s failed", run.id)  # the traceback: the worker's log, only there
        shown = failure_message(run, exc)
        ended = set_state(run, Run.FAILED, message=shown[:500], error=shown)
        return Run.FAILED if ended else _superseded(run)
    finally:
        heartbeat.stop()


def _superseded(run):
    """This attempt lost the run (claimed again or reaped while it worked): nothing it wrote
    after that was kept."""
    log.warning("run %s: attempt %s was superseded; its late writes were dropped", run.pk, run.attempts)
    return SUPERSEDED
