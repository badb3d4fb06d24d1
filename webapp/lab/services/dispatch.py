"""Queue runs for execution (Celery, the in-process worker thread, or nowhere in tests)
and revoke queued Celery tasks on cancel.

A transactional outbox makes dispatch crash-proof: a run is created "to dispatch"
(`Run.dispatched_at` NULL) in the same transaction as its experiment, so a committed run is
never forgotten. `send_pending` is the dispatcher: it hands each such run to the executor and
then marks it sent. The launching process calls it once its transaction commits; the periodic
sweep (`services.reaper.periodic_pass`) calls it for runs still unsent after
LAB_DISPATCH_GRACE seconds (the web process died, or the broker was down, between commit and
send). A sent run holds a lease of LAB_DISPATCH_LEASE seconds (Celery only): still queued when
it ends, the broker has lost the message (Redis restarted empty) or no worker took it yet, and
the sweep sends it again. A run may therefore be sent twice or more; the worker's
`lifecycle.claim` only starts a queued run, so it executes once.
"""
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Run

log = logging.getLogger("webapp.lab")


def queue_for(model_name):
    """'gpu' when the model is a real one and a GPU worker is expected, else 'cpu'."""
    if model_name != "embedded" and settings.LAB_EXPECT_GPU_WORKER:
        return "gpu"
    return "cpu"


def check_broker(timeout=3.0):
    """Raise kombu's OperationalError now when the Celery broker cannot be reached
    (no-op for the embedded and manual executors)."""
    if settings.LAB_EXECUTOR != "celery":
        return
    from webapp.celery_app import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)


def pending(older_than=None, run_ids=None, lease=None):
    """Queued runs not yet handed to the executor (the outbox), and with `lease` those sent
    more than `lease` s ago and still not claimed, oldest first."""
    unsent = Q(dispatched_at__isnull=True)
    if lease is not None:
        unsent |= Q(dispatched_at__lt=timezone.now() - timedelta(seconds=lease))
    qs = Run.objects.filter(unsent, state=Run.QUEUED)
    if run_ids is not None:
        qs = qs.filter(id__in=list(run_ids))
    if older_than is not None:
        qs = qs.filter(queued_at__lt=timezone.now() - timedelta(seconds=older_than))
    return qs.order_by("id")


def send_pending(run_ids=None, older_than=None, lease=None):
    """The dispatcher: send each pending run (all, or those of `run_ids`, or those queued
    more than `older_than` s ago; with `lease`, also those whose lease ran out) and mark it
    sent. Returns how many were sent. Stops at the first send that fails (broker down): the
    rest stay pending for the next sweep."""
    mode = settings.LAB_EXECUTOR
    if mode not in ("celery", "thread"):  # "manual": runs stay queued until something calls lifecycle.run_job
        return 0
    if mode == "thread":  # the queue is this process's memory: nothing to lose but the process
        return _submit_to_thread(list(pending(older_than, run_ids).values_list("id", flat=True)))
    ids = list(pending(older_than, run_ids, lease).values_list("id", "queue"))
    from webapp.celery_app import EXECUTE_RUN, app

    sent = 0
    for run_id, queue in ids:
        try:  # by name: the app never imports the task module
            task_id = app.send_task(EXECUTE_RUN, args=[run_id], queue=queue or "cpu").id
        except Exception:
            log.warning("could not send run %s; it stays pending for the next sweep", run_id, exc_info=True)
            break
        # a new lease from now; a run claimed meanwhile keeps its own state and task id
        Run.objects.filter(id=run_id, state=Run.QUEUED).update(dispatched_at=timezone.now(), celery_task_id=task_id)
        sent += 1
    return sent


def _submit_to_thread(run_ids):
    """Embedded mode: the queue is this process's memory (a restart re-submits every queued
    run, `embedded_worker.start`), so the runs are marked first, in one statement, and then
    handed to the worker thread: no write of ours competes with its claim (SQLite locks the
    whole database)."""
    from .embedded_worker import submit

    Run.objects.filter(id__in=run_ids, dispatched_at__isnull=True).update(dispatched_at=timezone.now())
    for run_id in run_ids:
        submit(run_id)
    return len(run_ids)


def send_on_commit(run_ids):
    """Send these runs once the surrounding transaction commits (they were written pending)."""
    run_ids = list(run_ids)
    transaction.on_commit(lambda: send_pending(run_ids))


def revoke(run):
    """Best effort: drop a queued Celery task. False when the broker is unreachable (the
    run's cancelled state in the database still makes the worker skip it)."""
    if settings.LAB_EXECUTOR != "celery" or not run.celery_task_id:
        return True
    try:
        check_broker(timeout=1.0)
        from webapp.celery_app import app

        app.control.revoke(run.celery_task_id)
    except Exception:
        log.warning("could not revoke celery task %s", run.celery_task_id, exc_info=True)
        return False
    return True
