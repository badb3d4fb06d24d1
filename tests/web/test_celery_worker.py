"""A real Celery worker (subprocess, Redis broker, the test Postgres database) runs an
experiment launched through the form; its stored numbers equal the engine's own;
its progress reaches a websocket client through channels_redis; a worker killed
with SIGKILL mid-run leaves the run failed with the reason shown (by the periodic
reaper of Redis mode, Celery beat in a scheduler process, with no page load) and pushed
to the websocket client.

Needs Redis (REDIS_URL_FOR_TESTS, default redis://127.0.0.1:6379/15) and Postgres
(TEST_DATABASE_URL); skipped otherwise. The worker points at pytest-django's test
database (its name is passed in DATABASE_URL), so these tests commit for real
(transactional_db) and the worker sees the rows.
"""
import asyncio
import json
import os
import signal
import threading
import time

import pytest
from django.core.management import call_command

from webapp.lab.models import Experiment, Run, Task

from .conftest import experiment_post
from .live import REDIS_URL, CeleryWorker, point_celery_at, app_database_url, redis_client, service_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_mode(settings, tmp_path):
    """This process launches through Celery on Redis and listens on channels_redis."""
    db_url = app_database_url()
    redis_client()
    settings.LAB_EXECUTOR = "celery"
    settings.REDIS_URL = REDIS_URL
    from webapp.settings import redis_channel_layer

    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
    point_celery_at(REDIS_URL)
    call_command("load_builtin_tasks", verbosity=0)
    yield {"db_url": db_url, "tmp": tmp_path}
    point_celery_at("memory://")


def _start_worker(redis_mode, name="worker", heartbeat_timeout=300, env_extra=None, **kw):
    tmp = redis_mode["tmp"]
    env = service_env(DATABASE_URL=redis_mode["db_url"], REDIS_URL=REDIS_URL, LAB_EXECUTOR="celery",
                      MEDIA_ROOT=tmp / "media", LAB_VAR_DIR=tmp / "var", LAB_HEARTBEAT_TIMEOUT=heartbeat_timeout,
                      LAB_REAPER_INTERVAL=2,  # production: 10 s
                      OMP_NUM_THREADS=1,  # one thread, like the in-process comparison (and kind to a shared CPU)
                      **(env_extra or {}))
    return CeleryWorker(tmp / f"{name}.log", env, **kw).wait_ready()


class WebsocketListener(threading.Thread):
    """Connects to the experiment's websocket (the real consumer on the Redis channel
    layer) in its own event loop and records every message until stopped."""

    def __init__(self, experiment_id, user):
        super().__init__(daemon=True)
        self.experiment_id, self.user = experiment_id, user
        self.messages, self.connected, self.stopped = [], threading.Event(), threading.Event()
        self.error = None

    def run(self):
        try:
            asyncio.run(self._listen())
        except Exception as exc:  # reported by the test
            self.error = exc
            self.connected.set()

    async def _listen(self):
        from channels.routing import URLRouter
        from channels.testing import WebsocketCommunicator

        from webapp.lab.routing import websocket_urlpatterns

        comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/experiments/{self.experiment_id}/")
        comm.scope["user"] = self.user
        ok, _ = await comm.connect(timeout=10)
        assert ok, "websocket refused"
        self.connected.set()
        while not self.stopped.is_set():
            try:  # read the queue directly: a receive_from timeout would cancel the consumer
                out = await asyncio.wait_for(comm.output_queue.get(), 0.5)
            except asyncio.TimeoutError:
                continue
            if out.get("type") == "websocket.send" and out.get("text"):
                self.messages.append(json.loads(out["text"]))
        await comm.disconnect()


def _states(exp):
    return dict(exp.runs.values_list("method", "state"))


def test_worker_runs_experiment_and_matches_engine(redis_mode, client, user):
    worker = _start_worker(redis_mode)
    try:
        client.force_login(user)
        task = Task.objects.get(name="animal-or-fruit")
        resp = client.post("/experiments/new/", experiment_post(task, methods=["icl", "sft"], n_values="4",
                                                                eval_size=40, similarity_size=10))
        assert resp.status_code == 302, resp.context["form"].errors if resp.context else resp
        exp = Experiment.objects.get()
        assert all(r.celery_task_id for r in exp.runs.all())
        listener = WebsocketListener(exp.pk, user)
        listener.start()
        listener.connected.wait(15)
        assert listener.error is None, listener.error
        wait_for(lambda: set(_states(exp).values()) <= set(Run.FINAL_STATES), 240, interval=0.5,
                 what=f"runs to finish (worker log:\n{worker.log()[-2000:]})")
        # the last broadcasts may still be in flight: wait for both "done" states to arrive
        wait_for(lambda: {m["run"]["method"] for m in listener.messages
                          if m.get("type") == "event" and m["run"]["state"] == "done"} == {"icl", "sft"},
                 15, what="the done states to reach the websocket client")
        listener.stopped.set()
        listener.join(10)
    finally:
        worker.stop()
    assert _states(exp) == {"icl": "done", "sft": "done"}, [r.error for r in exp.runs.all()]

    # progress of the running job reached the websocket client live, through channels_redis
    live = [m for m in listener.messages if m.get("type") == "event"]
    assert any(m["event"] and m["event"]["kind"] == "progress" and m["run"]["state"] == "running" for m in live), \
        [m.get("type") for m in listener.messages]
    assert any(m["points"] for m in live), "no loss points were streamed live"
    assert {m["run"]["method"] for m in live if m["run"]["state"] == "done"} == {"icl", "sft"}

    # the stored metrics are the engine's numbers, to the last bit (same thread count as the worker)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _compare_with_engine(exp, redis_mode["tmp"] / "engine-cache")
    finally:
        torch.set_num_threads(threads)


def _compare_with_engine(exp, cache_dir):
    from workers.engine.plan import RunKey
    from workers.engine.runner import execute_run

    for run in exp.runs.order_by("id"):
        expected = execute_run(exp.config, RunKey(run.method, run.n, run.seed), cache_dir=str(cache_dir))
        stored = list(run.results.order_by("id"))
        assert [r.eval_task_name for r in stored] == [e["eval_task"] for e in expected]
        for res, exp_res in zip(stored, expected):
            for metric in ("accuracy", "ece", "ece_equal_mass", "brier", "nll", "mean_similarity"):
                assert getattr(res, metric) == exp_res.get(metric), (run.method, metric)
            got = [(p.index, p.gold, p.predicted, p.confidence) for p in res.predictions.order_by("index")]
            want = [(p["index"], p["gold"], p["predicted"], p["confidence"]) for p in exp_res["predictions"]]
            assert got == want and len(got) == 40
            assert [ls.cosine for ls in res.layers.all()] == list(exp_res.get("layer_similarity") or [])
        if run.method == "sft":
            assert run.points.exists() and run.artifacts.filter(kind="results").exists()


def test_worker_killed_mid_run_is_marked_failed(redis_mode, client, user, settings):
    """Nobody loads a page and no other worker runs: Celery beat's reaper pass (the scheduler
    process) fails the run, and a websocket client of the experiment is told."""
    worker = _start_worker(redis_mode, name="doomed")
    listener = None
    try:
        client.force_login(user)
        task = Task.objects.get(name="animal-or-fruit")
        resp = client.post("/experiments/new/", experiment_post(task, methods=["sft"], n_values="4", eval_size=40,
                                                                similarity_size=10))
        assert resp.status_code == 302
        run = Experiment.objects.get().runs.get()
        listener = WebsocketListener(run.experiment_id, user)
        listener.start()
        listener.connected.wait(15)
        assert listener.error is None, listener.error
        wait_for(lambda: Run.objects.get(pk=run.pk).state == Run.RUNNING, 60, interval=0.1,
                 what="the worker to start the run")
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(10)
        killed_at = time.monotonic()
    finally:
        worker.stop()
    assert Run.objects.get(pk=run.pk).state == Run.RUNNING

    settings.LAB_HEARTBEAT_TIMEOUT = 15
    scheduler = _start_worker(redis_mode, name="scheduler", heartbeat_timeout=15, queue="maintenance", beat=True)
    try:
        wait_for(lambda: Run.objects.get(pk=run.pk).state == Run.FAILED, 60, interval=0.5,
                 what="the killed run to be marked failed")
        assert time.monotonic() - killed_at < 60
        wait_for(lambda: any(m.get("type") == "event" and m["run"]["state"] == "failed" for m in listener.messages),
                 10, what="the failed state to reach the websocket client")
        assert "reap_stale_runs" in scheduler.log()  # it was beat's pass, not anything else
    finally:
        scheduler.stop()
        listener.stopped.set()
        listener.join(10)
    run.refresh_from_db()
    assert "worker lost" in run.error and run.finished_at
    page = client.get(f"/experiments/{run.experiment_id}/")
    assert "worker lost (no heartbeat for 15 s)" in page.content.decode()
