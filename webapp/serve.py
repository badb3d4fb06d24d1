"""`python -m webapp.serve` (what `make run` runs): migrate, load built-in tasks, ensure
the demo user, then serve on $HOST:$PORT (127.0.0.1:8000 by default).

- Embedded mode (no REDIS_URL): one uvicorn process. The in-memory channel layer and the
  in-process worker thread live in that process, so it must be exactly one. (daphne served
  this mode before: uvicorn with uvloop and httptools took 11.0 ms of CPU per request where
  daphne took 12.7 in the same benchmark, 86 requests/s against 75.)
- Redis mode (REDIS_URL set, usually with a Postgres DATABASE_URL): uvicorn with
  WEB_CONCURRENCY worker processes (default: the CPU count, at least 2). Django runs sync
  views one thread per request but under one GIL, so one process uses at most about one
  core; the processes share channels_redis, the Redis cache and Postgres. Workers are
  separate Celery processes (`make worker`).

Every web process keeps a Postgres connection pool (LAB_DB_POOL, on by default here). The
periodic reaper (services/reaper.py) is a thread of this process in embedded mode and Celery
beat in Redis mode (`make scheduler`).
"""
import os
import socket
import sys

import uvicorn


class NoDelayConfig(uvicorn.Config):
    """uvicorn's config, with TCP_NODELAY on the connections of its worker processes.

    With workers > 1 uvicorn binds the shared listening socket as `socket.socket(AF_INET)`,
    protocol 0; asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP, so
    accepted connections kept Nagle's algorithm and every response on a keep-alive
    connection waited ~40 ms for the client's delayed ACK (measured: 48 ms per request
    with 2 workers, 4-7 ms with 1). Re-wrapping the socket with its real protocol fixes it.
    Module level: the config is pickled to the spawned worker processes."""

    def bind_socket(self):
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
            sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
            sock.set_inheritable(True)
        return sock


def prepare():
    """Everything the first run needs; safe to repeat."""
    import django
    from django.core.management import call_command

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    os.environ.setdefault("LAB_DB_POOL", "1")
    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_builtin_tasks")
    call_command("ensure_demo_user")
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        conn.close()
        if getattr(conn, "pool", None) is not None:
            conn.close_pool()  # uvicorn's worker processes open their own pools


def web_processes(settings):
    """uvicorn's worker processes: 1 in embedded mode (the in-memory channel layer and the
    worker thread live in that one process), WEB_CONCURRENCY in Redis mode."""
    if settings.EMBEDDED_MODE:
        return 1
    return max(1, int(settings.WEB_CONCURRENCY))


def serve_uvicorn(host, port, processes):
    """uvicorn on host:port with `processes` worker processes (a supervisor restarts dead
    ones); each imports webapp.asgi."""
    from uvicorn.supervisors import Multiprocess

    config = NoDelayConfig("webapp.asgi:application", host=host, port=port, workers=processes, lifespan="on",
                           log_level=os.environ.get("UVICORN_LOG_LEVEL", "warning"), access_log=False,
                           ws_ping_interval=20.0, ws_ping_timeout=20.0)
    if processes > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()


def main(argv=None):
    prepare()
    from django.conf import settings

    host = os.environ.get("HOST", "127.0.0.1")
    port = int(settings.PORT)
    processes = web_processes(settings)
    if settings.LAB_EXECUTOR == "thread":
        from webapp.lab.services.embedded_worker import start
        from webapp.lab.services.reaper import start_periodic_reaper

        start(recover=True)
        start_periodic_reaper()
        mode = "embedded mode: in-process worker and reaper, in-memory channel layer, one uvicorn process"
    else:
        mode = (f"Redis mode: {processes} uvicorn worker process(es); start workers with `make worker` "
                f"and one `make scheduler` (executor={settings.LAB_EXECUTOR})")
    if settings.LAB_DEMO_USER:
        password_hint = "the DEMO_PASSWORD you set" if os.environ.get("DEMO_PASSWORD") else "demo"
        accounts = f"sign in as demo / {password_hint} (or sign up)"
    else:
        accounts = "team mode: no demo account; create the first one with `python manage.py createsuperuser`"
    print(f"\n  ICL/SFT/IA2 lab: http://{host}:{port}/\n  {accounts}\n  {mode}\n", flush=True)
    serve_uvicorn(host, port, processes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
