"""The dispatch lease (LAB_DISPATCH_LEASE, services/dispatch.py): a queued run that was sent
but not claimed within the lease is sent again by the periodic pass, since the broker may
have lost its message (Redis restarted empty, as docker-compose runs it). The claim only starts
a queued run, so the duplicate delivery is harmless.

The end-to-end test starts its own Redis on a free port, launches while no worker listens,
restarts Redis empty, then starts a worker: every run ends done within a minute."""
import shutil
import subprocess
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from webapp.lab.models import Experiment, Run, Task
from webapp.lab.services import lifecycle, reaper

from .conftest import experiment_post, make_run, make_sft_experiment
from .live import REDIS_URL, CeleryWorker, app_database_url, free_port, point_celery_at, redis_client, service_env, \
    wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def celery_on_test_redis(settings):
    """This process sends runs through Celery to the tests' Redis database (flushed)."""
    broker = redis_client()
    settings.LAB_EXECUTOR = "celery"
    point_celery_at(REDIS_URL)
    yield broker
    point_celery_at("memory://")


def test_a_run_sent_but_not_claimed_within_the_lease_is_sent_again(celery_on_test_redis, user, settings):
    settings.LAB_DISPATCH_LEASE, settings.LAB_DISPATCH_GRACE = 60, 0
    exp = make_sft_experiment(user)
    long_ago = timezone.now() - timedelta(minutes=10)
    lost = make_run(exp, seed=0, dispatched_at=long_ago, celery_task_id="lost-message")
    fresh = make_run(exp, seed=1, dispatched_at=timezone.now(), celery_task_id="in-the-queue")
    finished = make_run(exp, seed=2, state=Run.DONE, dispatched_at=long_ago, celery_task_id="done")

    assert reaper.periodic_pass() == ([], 1)
    assert celery_on_test_redis.llen("cpu") == 1  # one new message, for the lost run only
    lost.refresh_from_db()
    assert lost.celery_task_id != "lost-message" and lost.dispatched_at > long_ago  # a new lease
    assert Run.objects.get(pk=fresh.pk).celery_task_id == "in-the-queue"
    assert Run.objects.get(pk=finished.pk).celery_task_id == "done"
    assert reaper.periodic_pass() == ([], 0)  # within its new lease: not sent again

    # both deliveries reach a worker: the first claim starts the run, the second changes nothing
    run, state = lifecycle.claim(lost.pk)
    assert run is not None and state == Run.RUNNING
    assert lifecycle.claim(lost.pk) == (None, Run.RUNNING)
    assert Run.objects.get(pk=lost.pk).attempts == 1


def test_the_lease_is_a_setting(celery_on_test_redis, user, settings):
    settings.LAB_DISPATCH_LEASE, settings.LAB_DISPATCH_GRACE = 900, 0
    exp = make_sft_experiment(user)
    make_run(exp, dispatched_at=timezone.now() - timedelta(minutes=10))
    assert reaper.periodic_pass() == ([], 0)
    settings.LAB_DISPATCH_LEASE = 300
    assert reaper.periodic_pass() == ([], 1)


class RedisServer:
    """redis-server on a free port as docker-compose runs it: nothing saved, so a restart is empty."""

    def __init__(self, folder):
        self.port, self.folder, self.proc = free_port(), folder, None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        server = shutil.which("redis-server")
        if server is None:
            pytest.fail("redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)")
        self.proc = subprocess.Popen([server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, 15, interval=0.1, what=f"redis-server on port {self.port}")
        return self

    def _answers(self):
        import redis

        try:
            return redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping()
        except redis.exceptions.RedisError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


@pytest.mark.slow
def test_runs_sent_before_redis_restarts_empty_all_end_done(settings, client, user, tmp_path):
    """Issue 22, item 1: runs sent, Redis stopped and restarted empty; with the scheduler
    (Celery beat, the periodic pass) up all along and a worker started after the restart,
    every run ends done within a minute of the worker being available."""
    redis_server = RedisServer(tmp_path).start()
    settings.LAB_EXECUTOR = "celery"
    point_celery_at(redis_server.url)
    call_command("load_builtin_tasks", verbosity=0)
    env = service_env(DATABASE_URL=app_database_url(), REDIS_URL=redis_server.url, LAB_EXECUTOR="celery",
                      MEDIA_ROOT=tmp_path / "media", LAB_VAR_DIR=tmp_path / "var", LAB_HEARTBEAT_TIMEOUT=300,
                      LAB_REAPER_INTERVAL=2, LAB_DISPATCH_GRACE=1, LAB_DISPATCH_LEASE=10, OMP_NUM_THREADS=1)
    scheduler = worker = None
    try:
        scheduler = CeleryWorker(tmp_path / "scheduler.log", env, queue="maintenance", beat=True).wait_ready()
        client.force_login(user)
        task = Task.objects.get(name="animal-or-fruit")
        resp = client.post("/experiments/new/", experiment_post(task, methods=["icl"], n_values="4,8", seeds=2,
                                                                eval_size=10, similarity_size=0))
        assert resp.status_code == 302, resp.context["form"].errors if resp.context else resp
        exp = Experiment.objects.get()
        assert exp.runs.count() == 4 and not exp.runs.filter(dispatched_at__isnull=True).exists()
        import redis

        assert redis.Redis.from_url(redis_server.url).llen("cpu") == 4  # sent, waiting for a worker

        redis_server.stop()
        time.sleep(5)
        redis_server.start()  # empty: the four messages are gone
        assert redis.Redis.from_url(redis_server.url).llen("cpu") == 0
        assert exp.runs.filter(state=Run.QUEUED).count() == 4

        worker = CeleryWorker(tmp_path / "worker.log", env).wait_ready()
        available = time.monotonic()
        wait_for(lambda: not exp.runs.exclude(state__in=Run.FINAL_STATES).exists(), 60, interval=0.5,
                 what=f"every run to end: {list(exp.runs.values_list('state', flat=True))}; scheduler log:\n"
                      f"{scheduler.log()[-1500:]}\nworker log:\n{worker.log()[-1500:]}")
        took = time.monotonic() - available
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.stop()
        redis_server.stop()
        point_celery_at("memory://")
    print(f"recovered from an empty Redis restart: every run ended {took:.1f} s after a worker was available")
    assert set(exp.runs.values_list("state", flat=True)) == {Run.DONE}, [r.error for r in exp.runs.all()]
    assert set(exp.runs.values_list("attempts", flat=True)) == {1}  # each executed once
