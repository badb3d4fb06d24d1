"""Helpers for the tests that use real services: Redis at REDIS_URL_FOR_TESTS, the test
Postgres database, Celery worker subprocesses, free ports and polling."""
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/15")


def redis_client(url=REDIS_URL):
    """A flushed Redis client for the test database (tests/services.py found or started the
    server); fails with the reason when it does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.fail(f"Redis is not reachable at {url} ({exc}); start it or set REDIS_URL_FOR_TESTS")
    client.flushdb()
    return client


def app_database_url():
    """The URL of pytest-django's test database, for the app and worker subprocesses."""
    from django.db import connection

    assert connection.vendor == "postgresql", "the web tests run on Postgres (tests/settings.py)"
    return database_url(connection.settings_dict)


def database_url(sd, port=None):
    auth = sd["USER"] or ""
    if sd.get("PASSWORD"):
        auth += f":{sd['PASSWORD']}"
    host = sd.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}@{host}:{port or sd.get('PORT') or 5432}/{sd['NAME']}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def service_env(**extra):
    """Environment for an app/worker subprocess: this checkout on the path, no test leftovers."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "DATABASE_URL", "LAB_EXECUTOR", "PYTEST_CURRENT_TEST")}
    env.update(DJANGO_SETTINGS_MODULE="webapp.settings", PYTHONPATH=str(ROOT), SECRET_KEY="test-only-secret-key",
               PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def stop_process(proc, grace=15):
    """SIGTERM a test's server or worker, SIGKILL it if it is still there after `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class CeleryWorker:
    """`celery -A webapp.celery_app worker -Q cpu --concurrency 1 -P solo` as a subprocess;
    `queue="maintenance", beat=True` is the scheduler of Redis mode (beat + the reaper's queue)."""

    def __init__(self, log_path, env, queue="cpu", beat=False):
        self.log_path = Path(log_path)
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", queue, "--concurrency", "1",
             "-P", "solo", "-l", "info", "-n", self.name, "--without-gossip", "--without-mingle",
             "--without-heartbeat", *(["-B", "-s", str(self.log_path.with_suffix(".beat"))] if beat else [])],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout=90):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"celery worker exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            return " ready." in self.log()

        wait_for(ready, timeout, what="the celery worker to be ready")
        return self

    def stop(self):
        stop_process(self.proc)
        self._log.close()


def point_celery_at(url):
    """Make this process's Celery app publish to `url` (its cached pools are dropped)."""
    from webapp.celery_app import app

    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def embedded_app(tmp_path, **extra_env):
    """`python -m webapp.serve` in embedded mode (in-process worker thread) on a free port with
    a fresh SQLite database under tmp_path, so it never touches the test Postgres; yields
    (base URL, its environment); `extra_env` is added to its environment (e.g. TMPDIR). A
    traceback in its log fails the test."""
    port = free_port()
    env = service_env(DATABASE_URL=f"sqlite:///{tmp_path / 'app.sqlite3'}", LAB_VAR_DIR=tmp_path / "var",
                      MEDIA_ROOT=tmp_path / "media", PORT=port, DEMO_PASSWORD="demo-pw", OMP_NUM_THREADS=1,
                      **extra_env)
    log_path = tmp_path / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "webapp.serve"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            raise AssertionError(log_path.read_text()[-3000:])
        try:
            return urllib.request.urlopen(base + "/accounts/login/", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(up, 90, interval=0.3, what="the app server")
        yield base, env
    finally:
        stop_process(proc)
        log.close()


def seed_app_db(tmp_path, script, count):
    """Run `script` (Django code printing ids) in a fresh process against the SQLite database of
    `embedded_app(tmp_path)`; the last `count` whitespace-separated values it printed, as ints."""
    env = service_env(DATABASE_URL=f"sqlite:///{tmp_path / 'app.sqlite3'}", LAB_VAR_DIR=tmp_path / "var",
                      MEDIA_ROOT=tmp_path / "media")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return [int(x) for x in out.stdout.split()[-count:]]
