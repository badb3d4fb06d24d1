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
    transaction.on_commit(lambda: _enqueue_now(run_ids))


def _enqueue_now(run_ids):
    mode = settings.LAB_EXECUTOR
    if mode == "celery":
        from workers.celery_tasks import execute_run

        for run in Run.objects.filter(id__in=run_ids):
            result = execute_run.apply_async(args=[run.id], queue=run.queue or "cpu")
            Run.objects.filter(id=run.id).update(celery_task_id=result.id)
    elif mode == "thread":
        from .embedded_worker import submit

        for run_id in run_ids:
            submit(run_id)
    # "manual": runs stay queued until something calls workers.celery_tasks.run_job


def revoke(run):
    if settings.LAB_EXECUTOR == "celery" and run.celery_task_id:
        try:
            from webapp.celery_app import app

            app.control.revoke(run.celery_task_id)
        except Exception:  # the DB flag still stops it when it starts
            log.warning("could not revoke celery task %s", run.celery_task_id, exc_info=True)
