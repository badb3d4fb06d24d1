"""The periodic reaper. Embedded mode: the web process's reaper thread fails a run whose worker stopped sending
heartbeats, with no page load and no other worker, and the state change reaches a
websocket client of the experiment. Short interval and timeout via settings (the
defaults are 10 s and 30 s; the thread is off under pytest unless started). Redis mode:
a Celery beat entry sends the reaper task (end to end with a killed worker in
test_celery_worker.py)."""
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from webapp.lab.models import Experiment, Run
from webapp.lab.routing import websocket_urlpatterns
from webapp.lab.services import reaper

from .conftest import make_task

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def _setup():
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create_user("owner", password="x")
    exp = Experiment.objects.create(owner=owner, train_task=make_task(owner), methods=["sft"], n_values=[4])
    old = timezone.now() - timedelta(seconds=5)
    dead = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, state="running", started_at=old,
                              heartbeat_at=old, worker="elsewhere:1", attempts=2)  # no attempt left: failed
    alive = Run.objects.create(experiment=exp, method="sft", n=4, seed=1, state="running", started_at=old,
                               heartbeat_at=timezone.now() + timedelta(seconds=60))
    return owner, exp, dead, alive


@sync_to_async
def _state(run):
    run.refresh_from_db()
    return run.state, run.error


@pytest.mark.asyncio
async def test_periodic_reaper_fails_dead_run_and_pushes_it(settings):
    settings.LAB_HEARTBEAT_TIMEOUT = 2
    owner, exp, dead, alive = await _setup()
    assert reaper.start_periodic_reaper(interval=0) is None  # interval 0: off
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/experiments/{exp.pk}/")
    comm.scope["user"] = owner
    connected, _ = await comm.connect()
    assert connected
    thread = reaper.start_periodic_reaper(interval=0.2)
    try:
        assert thread is reaper.start_periodic_reaper(interval=0.2)  # one per process
        msg = None
        for _ in range(20):
            msg = await comm.receive_json_from(timeout=5)
            if msg["type"] == "event" and msg["run"]["state"] == "failed":
                break
        assert msg["run"]["id"] == dead.pk and "worker lost (no heartbeat for 2 s)" in msg["run"]["error"]
        assert msg["event"]["kind"] == "state"
        state, error = await _state(dead)
        assert state == "failed" and "worker lost" in error
        assert (await _state(alive))[0] == "running"  # fresh heartbeat: left alone
        assert thread.passes >= 1
    finally:
        reaper.stop_periodic_reaper()
        await comm.disconnect()
    assert not thread.is_alive()


def test_redis_mode_reaper_is_a_beat_schedule_on_the_maintenance_queue(settings):
    """Redis mode's one reaper: Celery beat sends the reaper task every LAB_REAPER_INTERVAL
    seconds to the maintenance queue (never behind a run on cpu/gpu); no interval, no entry."""
    from webapp.celery_app import MAINTENANCE_QUEUE, REAP_STALE_RUNS, app, schedule_reaper
    from workers.celery_tasks import reap_stale_runs

    assert reap_stale_runs.name == REAP_STALE_RUNS  # the name beat sends is the task workers register
    saved = dict(app.conf.beat_schedule or {})
    try:
        app.conf.beat_schedule = {}
        settings.LAB_REAPER_INTERVAL = 0
        schedule_reaper(app)
        assert app.conf.beat_schedule == {}
        settings.LAB_REAPER_INTERVAL = 7
        schedule_reaper(app)
        (entry,) = app.conf.beat_schedule.values()
        assert entry["task"] == REAP_STALE_RUNS and entry["schedule"] == 7
        assert entry["options"]["queue"] == MAINTENANCE_QUEUE and entry["options"]["expires"] == 7
        assert MAINTENANCE_QUEUE in {q.name for q in app.conf.task_queues}
    finally:
        app.conf.beat_schedule = saved


def test_reaper_task_does_one_pass(settings):
    """The Celery task the schedule sends fails a stale run (run eagerly, in this process)."""
    from asgiref.sync import async_to_sync

    from workers.celery_tasks import reap_stale_runs

    settings.LAB_HEARTBEAT_TIMEOUT = 2
    _, _, dead, alive = async_to_sync(_setup)()
    assert reap_stale_runs.apply().get() == [dead.pk]
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.state == "failed" and alive.state == "running"
