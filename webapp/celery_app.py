"""Celery app `webapp.celery_app`: queues cpu and gpu (runs, one at a time per worker) and
maintenance (the periodic reaper, sent by Celery beat).

Start a GPU worker with `celery -A webapp.celery_app worker -Q gpu --concurrency 1`, a CPU
worker with `-Q cpu`, and exactly one scheduler with
`celery -A webapp.celery_app worker -B -Q maintenance --concurrency 1` (beat + the worker
that runs its reaper passes; runs never wait behind a reaper pass, and a reaper pass never
waits behind a run).

Tasks are known here by name only (the web app never imports `workers.celery_tasks`).
"""
import os

from celery import Celery, signals
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

EXECUTE_RUN = "workers.celery_tasks.execute_run"
REAP_STALE_RUNS = "workers.celery_tasks.reap_stale_runs"
MAINTENANCE_QUEUE = "maintenance"

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_queues=(Queue("cpu"), Queue("gpu"), Queue(MAINTENANCE_QUEUE)),
    task_default_queue="cpu",
    worker_prefetch_multiplier=1,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_concurrency=int(os.environ.get("CELERY_CONCURRENCY", "1")),
    include=["workers.celery_tasks"],
)


@signals.worker_init.connect
def lower_priority(**kwargs):
    """A worker runs at LAB_WORKER_NICE (default 10; its pool's processes inherit it): where it
    shares a machine's CPUs with the web server, pages stay quick while a run trains, and the
    run takes whatever CPU the pages leave. A GPU worker loses nothing by it."""
    from django.conf import settings

    if settings.LAB_WORKER_NICE:
        os.nice(settings.LAB_WORKER_NICE)


@app.on_after_configure.connect
def schedule_reaper(sender, **kwargs):
    """The one periodic reaper of Redis mode: a pass every LAB_REAPER_INTERVAL seconds
    (0 = none), on the maintenance queue; a pass not started within the interval expires."""
    from django.conf import settings

    every = float(settings.LAB_REAPER_INTERVAL)
    if every > 0:
        sender.add_periodic_task(every, sender.signature(REAP_STALE_RUNS, queue=MAINTENANCE_QUEUE),
                                 name="reap stale runs", expires=every)
