"""Celery app `webapp.celery_app`: queues cpu and gpu, one job at a time per worker.

Start a GPU worker with `celery -A webapp.celery_app worker -Q gpu --concurrency 1`
and a CPU worker with `-Q cpu`.
"""
import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=(Queue("cpu"), Queue("gpu")),
    task_default_queue="cpu",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_concurrency=int(os.environ.get("CELERY_CONCURRENCY", "1")),
    include=["workers.celery_tasks"],
)
