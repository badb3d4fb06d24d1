"""Real outages, not mocks: Postgres behind a TCP proxy that the test stops (every
connection cut, then the port closed: a restart) and starts again; Redis at a closed
port while launching and cancelling. Pages show the clear 503 message, never a
traceback, and recover without restarting anything; nothing is half-created. Also:
a crash in the middle of writing results leaves nothing, on a really committing DB."""
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import close_old_connections, connection

from webapp.lab.models import Artifact, EvalResult, Experiment, LayerSimilarity, Prediction, Run
from webapp.lab.services.lifecycle import run_job

from .conftest import experiment_post, make_run, make_sft_experiment, make_task
from .live import REDIS_URL, ROOT, free_port, point_celery_at, app_database_url, service_env

DB_DOWN = b"The database is temporarily unreachable; retry in a moment."
REDIS_DOWN = b"The message broker (Redis) is temporarily unreachable; retry in a moment."


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; stop() cuts every connection and closes the port."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, int(target_port))
        self.port = free_port()
        self.conns, self.server = [], None

    def start(self):
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", self.port))
        self.server.listen(16)
        threading.Thread(target=self._accept, args=(self.server,), daemon=True).start()
        return self

    def _accept(self, server):
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
        except OSError:
            pass
        self.server.close()
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.conns = []


@pytest.fixture
def db_through_proxy(transactional_db):
    """The test database reached through a TcpProxy (Postgres only)."""
    app_database_url()
    sd = connection.settings_dict
    saved = (sd["HOST"], sd["PORT"])
    proxy = TcpProxy(sd["HOST"] or "127.0.0.1", sd["PORT"] or 5432).start()
    connection.close()
    sd["HOST"], sd["PORT"] = "127.0.0.1", proxy.port
    try:
        yield proxy
    finally:
        try:
            connection.close()
        except Exception:
            pass
        sd["HOST"], sd["PORT"] = saved
        proxy.stop()


def _get(client, url):
    """A request as a real server makes it: Django's handler runs close_old_connections on
    request start and finish (the test client switches that off), dropping a broken connection."""
    close_old_connections()
    try:
        return client.get(url)
    finally:
        close_old_connections()


def _pages(exp):
    return ["/tasks/", "/experiments/", f"/experiments/{exp.pk}/", f"/experiments/{exp.pk}/results.json",
            f"/tasks/{exp.train_task_id}/", "/experiments/new/"]


def test_postgres_restart_gives_503_then_recovers(db_through_proxy, client, user):
    task = make_task(user)
    exp = Experiment.objects.create(owner=user, train_task=task, methods=["sft"], n_values=[4])
    Run.objects.create(experiment=exp, method="sft", n=4, seed=0)
    client.force_login(user)
    assert [_get(client, url).status_code for url in _pages(exp)] == [200] * 6

    db_through_proxy.stop()  # the server goes away: connections cut, port closed
    for url in _pages(exp):
        resp = _get(client, url)
        assert resp.status_code == 503, url
        assert DB_DOWN in resp.content and b"Traceback" not in resp.content, url
        assert resp["Retry-After"]
    resp = client.post(f"/experiments/{exp.pk}/cancel/")
    assert resp.status_code == 503 and DB_DOWN in resp.content

    db_through_proxy.start()  # back on the same port: no app restart needed
    assert [_get(client, url).status_code for url in _pages(exp)] == [200] * 6


UNREACHABLE_SCRIPT = r"""
import django
django.setup()
from django.test import Client
client = Client()
client.cookies["sessionid"] = "a-session-the-database-must-be-asked-about"
for url in ("/experiments/", "/tasks/", "/experiments/1/results.json"):
    resp = client.get(url)
    print(resp.status_code, resp.content.decode().replace("\n", " "))
"""


def test_unreachable_database_from_a_second_settings_instance(tmp_path):
    """A second app instance whose DATABASE_URL points at a closed port: 503 pages, no traceback."""
    env = service_env(DATABASE_URL=f"postgres://lab@127.0.0.1:{free_port()}/nowhere", ALLOWED_HOSTS="testserver",
                      LAB_VAR_DIR=tmp_path, LAB_EXECUTOR="manual")
    proc = subprocess.run([sys.executable, "-c", UNREACHABLE_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        assert line.startswith("503 ") and DB_DOWN.decode() in line and "Traceback" not in line, line


@pytest.fixture
def redis_down(settings):
    """Celery and the channel layer point at a closed port."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    settings.LAB_EXECUTOR = "celery"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [down]}}}
    point_celery_at(down)
    yield down
    point_celery_at("memory://")


@pytest.mark.django_db(transaction=True)
def test_launch_with_redis_down_creates_nothing(redis_down, client_in, task, no_engine_check, monkeypatch):
    t0 = time.monotonic()
    resp = client_in.post("/experiments/new/", experiment_post(task))
    assert resp.status_code == 503 and REDIS_DOWN in resp.content and b"Traceback" not in resp.content
    assert time.monotonic() - t0 < 10
    assert not Experiment.objects.exists() and not Run.objects.exists()

    # the broker vanishes between the check and the send: the committed runs stay in the
    # dispatch outbox (pending) for the periodic sweep (tests/web/test_outbox.py)
    from webapp.lab.services.dispatch import pending

    monkeypatch.setattr("webapp.lab.services.dispatch.check_broker", lambda **kw: None)
    resp = client_in.post("/experiments/new/", experiment_post(task))
    assert resp.status_code == 302
    assert Experiment.objects.count() == 1 and pending().count() == Run.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_launch_recovers_when_redis_is_back(settings, client_in, task, no_engine_check):
    from .live import redis_client

    broker = redis_client()
    settings.LAB_EXECUTOR = "celery"
    point_celery_at(f"redis://127.0.0.1:{free_port()}/0")
    try:
        assert client_in.post("/experiments/new/", experiment_post(task)).status_code == 503
        point_celery_at(REDIS_URL)  # Redis is back; the web process was not restarted
        resp = client_in.post("/experiments/new/", experiment_post(task))
        assert resp.status_code == 302
        exp = Experiment.objects.get()
        assert exp.runs.count() == 2 and all(r.celery_task_id for r in exp.runs.all())
        assert broker.llen("cpu") == 2
    finally:
        point_celery_at("memory://")
        broker.flushdb()


@pytest.mark.django_db(transaction=True)
def test_cancel_with_redis_down_is_stored_and_explained(redis_down, client_in, user):
    task = make_task(user)
    exp = Experiment.objects.create(owner=user, train_task=task, methods=["sft"], n_values=[4])
    queued = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, celery_task_id="t-1")
    running = Run.objects.create(experiment=exp, method="sft", n=4, seed=1, state="running", celery_task_id="t-2")
    t0 = time.monotonic()
    resp = client_in.post(f"/experiments/{exp.pk}/cancel/", follow=True)
    assert time.monotonic() - t0 < 10
    assert resp.status_code == 200
    page = resp.content.decode()
    assert "Cancelling 2 run(s)." in page and "The message broker (Redis) is unreachable right now" in page
    queued.refresh_from_db(), running.refresh_from_db()
    assert queued.state == "cancelled" and queued.cancel_requested
    assert running.state == "running" and running.cancel_requested  # stops at its next step
    assert run_job(queued.pk) == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_crash_while_writing_results_leaves_nothing(user, fake_runner, monkeypatch, settings):
    """Committing database (no test transaction around it): every row or none."""
    exp = make_sft_experiment(user)
    run = make_run(exp, "sft", 4, 0)

    calls = []
    real_create = LayerSimilarity.objects.bulk_create

    def crash_after_layers(objs, *a, **k):
        calls.append(real_create(list(objs), *a, **k))  # layers are written ...
        raise OSError("the disk filled up")             # ... then the writer dies

    monkeypatch.setattr(LayerSimilarity.objects, "bulk_create", crash_after_layers)
    assert run_job(run.pk) == "failed"
    assert calls and calls[0], "the crash happened after some rows were written"
    assert not EvalResult.objects.exists() and not LayerSimilarity.objects.exists()
    assert not Prediction.objects.exists() and not Artifact.objects.exists()
    assert not any(Path(settings.MEDIA_ROOT).rglob("results.json"))
    run.refresh_from_db()
    assert run.state == "failed" and "disk filled up" in run.error
