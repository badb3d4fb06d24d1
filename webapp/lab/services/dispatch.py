"""Queue runs for execution (Celery, the in-process worker thread, or nowhere in tests)
and revoke queued Celery tasks on cancel."""
import logging

from django.conf import settings
from django.db import transaction

from ..models import Run

log = logging.getLogger("webapp.lab")


def queue_for(model_name):
    """'gpu' when the model is a real one and a GPU worker is expected, else 'cpu'."""
    if model_name != "embedded" and settings.LAB_EXPECT_GPU_WORKER:
        return "gpu"
    return "cpu"


def enqueue(run_ids):
    """Hand runs to the executor once the surrounding transaction commits."""
    run_ids = list(run_ids)
    transaction.on_commit(lambda: enqueue_now(run_ids))


def check_broker(timeout=3.0):
    """Raise kombu's OperationalError now when the Celery broker cannot be reached
    (no-op for the embedded and manual executors)."""
    if settings.LAB_EXECUTOR != "celery":
        return
    from webapp.celery_app import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)


def enqueue_now(run_ids):
    mode = settings.LAB_EXECUTOR
    if mode == "celery":
        from webapp.celery_app import EXECUTE_RUN, app

        for run in Run.objects.filter(id__in=run_ids):  # by name: the app never imports the task module
            result = app.send_task(EXECUTE_RUN, args=[run.id], queue=run.queue or "cpu")
            Run.objects.filter(id=run.id).update(celery_task_id=result.id)
    elif mode == "thread":
        from .embedded_worker import submit

        for run_id in run_ids:
            submit(run_id)
    # "manual": runs stay queued until something calls lifecycle.run_job


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
