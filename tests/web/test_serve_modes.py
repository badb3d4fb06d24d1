"""How `python -m webapp.serve` serves: one uvicorn process in embedded mode, uvicorn with
WEB_CONCURRENCY worker processes in Redis mode (with TCP_NODELAY on their connections), at
most WEB_THREADS requests per process in Django code at once. The Redis-mode test starts the real
server (2 processes) against the test Postgres and Redis and checks that pages are
served, that database connections are pooled (the same server connections stay open
across requests), that a websocket client gets an event published from another process
through channels_redis after idling for more than 5 s, and that no web process reaps runs
(in Redis mode that is Celery beat's job, see test_celery_worker.py)."""
import json
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from webapp.lab.models import Experiment, Run
from webapp.serve import web_processes

from .conftest import make_task
from .live import REDIS_URL, ROOT, free_port, app_database_url, redis_client, stop_process, service_env, wait_for


def test_web_processes():
    assert web_processes(SimpleNamespace(EMBEDDED_MODE=True, WEB_CONCURRENCY=8)) == 1
    assert web_processes(SimpleNamespace(EMBEDDED_MODE=False, WEB_CONCURRENCY=3)) == 3
    assert web_processes(SimpleNamespace(EMBEDDED_MODE=False, WEB_CONCURRENCY=0)) == 1


def test_worker_socket_gets_tcp_nodelay():
    """uvicorn's shared socket for several workers had protocol 0, so asyncio left Nagle on
    and each keep-alive response waited ~40 ms for a delayed ACK. NoDelayConfig fixes it."""
    import asyncio
    import socket

    from webapp.serve import NoDelayConfig

    config = NoDelayConfig("webapp.asgi:application", host="127.0.0.1", port=free_port(), workers=2)
    sock = config.bind_socket()
    assert sock.proto == socket.IPPROTO_TCP

    async def check():
        seen = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport):
                raw = transport.get_extra_info("socket")
                seen.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
            assert await asyncio.wait_for(seen, 5) == 1
            writer.close()
        finally:
            server.close()

    asyncio.run(check())


@pytest.mark.asyncio
@pytest.mark.parametrize("limit, peak, threads", [(1, 1, 1), (3, 3, 3), (0, 6, 6)])
async def test_web_threads_limits_requests_and_reuses_their_threads(limit, peak, threads, settings, monkeypatch):
    """WEB_THREADS: at most that many requests of a process are handled at once (0: no limit),
    the others wait in the event loop; each request's synchronous steps run on one of
    WEB_THREADS persistent threads (0: Django's own new thread per request)."""
    import asyncio
    import threading

    from asgiref.sync import sync_to_async
    from django.core.handlers.asgi import ASGIHandler

    from webapp.asgi import SyncChainASGIHandler

    settings.WEB_THREADS = limit
    running, seen, names = [0], [], set()

    def thread_name():
        return threading.current_thread().name

    async def fake_handle(self, scope, receive, send):
        running[0] += 1
        seen.append(running[0])
        first = await sync_to_async(thread_name)()  # thread-sensitive, as Django's steps are
        await asyncio.sleep(0.02)
        assert await sync_to_async(thread_name)() == first  # one request, one thread
        names.add(first)
        running[0] -= 1

    monkeypatch.setattr(ASGIHandler, "handle", fake_handle)
    handler = SyncChainASGIHandler()
    await asyncio.gather(*(handler({"type": "http"}, None, None) for _ in range(6)))
    assert max(seen) == peak and len(names) == threads


def _server_backends(db_name):
    """pids of the server connections open on the test database (ours excluded)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [db_name])
        return {row[0] for row in cur.fetchall()}


def _children(pid):
    """Command lines of the multiprocessing workers spawned by `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and "spawn_main" in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_redis_mode_serves_with_several_processes(client, user, tmp_path, settings):
    db_url = app_database_url()
    redis_client()
    import websockets.sync.client as websockets
    exp = Experiment.objects.create(owner=user, train_task=make_task(user), methods=["sft"], n_values=[4])
    live = Run.objects.create(experiment=exp, method="sft", n=4, seed=0)
    old = timezone.now() - timedelta(seconds=30)
    dead = Run.objects.create(experiment=exp, method="sft", n=4, seed=1, state="running", started_at=old,
                              heartbeat_at=old)
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    port = free_port()
    env = service_env(DATABASE_URL=db_url, REDIS_URL=REDIS_URL, LAB_EXECUTOR="celery", PORT=port,
                      WEB_CONCURRENCY=2, LAB_VAR_DIR=tmp_path / "var", MEDIA_ROOT=tmp_path / "media",
                      LAB_REAPER_INTERVAL=1, LAB_HEARTBEAT_TIMEOUT=20, DB_POOL_MIN_SIZE=1, DB_POOL_MAX_SIZE=4,
                      SECRET_KEY=settings.SECRET_KEY)  # the session cookie made here must be valid there
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "webapp.serve"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def get(path):
        req = urllib.request.Request(base + path, headers={"Cookie": cookie})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.geturl() == base + path, "redirected: the session is not valid on the server"
            return resp.status, resp.read()

    def up():
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "server.log").read_text()[-3000:])
        try:
            return get("/experiments/")[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, 90, interval=0.3, what="the app server")
        assert len(_children(proc.pid)) == 2, subprocess.run(["ps", "-ef"], capture_output=True, text=True).stdout

        pages = ["/tasks/", "/experiments/", f"/experiments/{exp.pk}/", f"/experiments/{exp.pk}/results.json",
                 f"/experiments/{exp.pk}/history.json"]
        for _ in range(4):
            assert [get(p)[0] for p in pages] == [200] * len(pages)
        first = _server_backends(connection.settings_dict["NAME"])
        assert first, "no pooled connection stayed open"
        for _ in range(4):
            assert [get(p)[0] for p in pages] == [200] * len(pages)
        again = _server_backends(connection.settings_dict["NAME"])
        assert again == first and len(again) <= 2 * 4  # the same connections, reused
        # no web process reaps in Redis mode (Celery beat does; page loads never do), although
        # LAB_REAPER_INTERVAL=1 and the run's heartbeat is stale and the pages were loaded
        assert Run.objects.get(pk=dead.pk).state == Run.RUNNING

        # websocket on one of the processes; an event published from this process reaches it
        from webapp.settings import redis_channel_layer

        settings.CHANNEL_LAYERS = {"default": redis_channel_layer(REDIS_URL)}
        with websockets.connect(f"ws://127.0.0.1:{port}/ws/experiments/{exp.pk}/", open_timeout=10,
                                origin=base, additional_headers={"Cookie": cookie}) as ws:
            ws.send(json.dumps({"type": "resume", "last_event": 0, "last_point": 0}))
            replay = json.loads(ws.recv(timeout=10))
            assert replay["type"] == "replay" and {r["id"] for r in replay["runs"]} == {live.pk, dead.pk}
            from webapp.lab.services.lifecycle import set_state

            time.sleep(6)  # idle for longer than channels_redis's 5 s blocking read: still connected
            set_state(live, Run.CANCELLED, message="cancelled from another process")
            msg = json.loads(ws.recv(timeout=10))
            assert msg["type"] == "event" and msg["run"]["id"] == live.pk and msg["run"]["state"] == "cancelled"
    finally:
        stop_process(proc, grace=20)
        log.close()
    assert "Traceback" not in (tmp_path / "server.log").read_text()
