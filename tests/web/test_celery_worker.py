"""A real Celery worker (subprocess, Redis broker, the test Postgres database) runs an
experiment launched through the form; its stored numbers equal the engine's own;
its progress reaches a websocket client through channels_redis; a worker killed
with SIGKILL mid-run, with runs queued behind it, has its run queued again with the reason
shown (by the periodic pass of Redis mode, Celery beat in a scheduler process, with no page
load) and pushed to the websocket client, and every run then ends done.

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
from webapp.lab.services.snapshots import resolve

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
        # LAB_WORKER_NICE (default 10): the worker yields the CPUs to the web server
        assert os.getpriority(os.PRIO_PROCESS, worker.proc.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
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
        expected = execute_run(resolve(exp.config), RunKey(run.method, run.n, run.seed), cache_dir=str(cache_dir))
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


def test_worker_killed_mid_run_with_runs_queued_behind_it(redis_mode, client, user, settings):
    """The retry rule under a real SIGKILL: a worker dies mid-run with two runs queued behind
    it. Once a worker and the scheduler are up (no page load), Celery beat's periodic pass
    queues the dead run again (attempt 1 of 2, reason recorded and pushed to the websocket
    client) and sends it; every run ends done within a minute of the worker being available."""
    worker = _start_worker(redis_mode, name="doomed")
    listener = None
    try:
        client.force_login(user)
        task = Task.objects.get(name="animal-or-fruit")
        resp = client.post("/experiments/new/", experiment_post(task, methods=["sft"], n_values="4", seeds=3,
                                                                eval_size=10, similarity_size=0))
        assert resp.status_code == 302
        exp = Experiment.objects.get()
        listener = WebsocketListener(exp.pk, user)
        listener.start()
        listener.connected.wait(15)
        assert listener.error is None, listener.error
        first = wait_for(lambda: exp.runs.filter(state=Run.RUNNING).first(), 60, interval=0.1,
                         what="the worker to start a run")
        os.kill(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait(10)
    finally:
        worker.stop()
    assert Run.objects.get(pk=first.pk).state == Run.RUNNING
    assert exp.runs.filter(state=Run.QUEUED).count() == 2

    settings.LAB_HEARTBEAT_TIMEOUT = 6
    extra = {"LAB_DISPATCH_GRACE": 1}
    scheduler = _start_worker(redis_mode, name="scheduler", heartbeat_timeout=6, queue="maintenance", beat=True,
                              env_extra=extra)
    replacement = _start_worker(redis_mode, name="replacement", heartbeat_timeout=6, env_extra=extra)
    available = time.monotonic()
    try:
        wait_for(lambda: not exp.runs.exclude(state__in=Run.FINAL_STATES).exists(), 60, interval=0.5,
                 what=f"every run to end: {_states_by_id(exp)}; worker log:\n{replacement.log()[-1500:]}")
        took = time.monotonic() - available
        lost = "worker lost (no heartbeat for 6 s) during attempt 1 of 2; queued again"
        wait_for(lambda: any(m.get("type") == "event" and m["run"]["id"] == first.pk
                             and lost in (m["run"]["message"] or "") for m in listener.messages),
                 10, what="the re-queued state to reach the websocket client")
        assert "reap_stale_runs" in scheduler.log()  # it was beat's pass, not anything else
    finally:
        scheduler.stop()
        replacement.stop()
        listener.stopped.set()
        listener.join(10)
    print(f"every run ended {took:.1f} s after a worker was available: {_states_by_id(exp)}")
    assert set(_states_by_id(exp).values()) == {Run.DONE}, [r.error for r in exp.runs.all()]
    first.refresh_from_db()
    assert first.attempts == 2 and set(exp.runs.exclude(pk=first.pk).values_list("attempts", flat=True)) == {1}
    page = client.get(f"/experiments/{exp.pk}/").content.decode()
    assert lost in page and "2 of 2" in page


def _states_by_id(exp):
    return dict(exp.runs.values_list("id", "state"))
