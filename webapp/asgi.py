"""ASGI entry point: HTTP through the body limits (lab/body_limits.py) to Django, websockets
through Channels (auth + origin checks), and the ASGI lifespan protocol (servers that speak
it, e.g. uvicorn, close this process's connection pool at shutdown).

Web processes use a Postgres connection pool: when an ASGI server imports this module
first, LAB_DB_POOL defaults to on before the settings load (see webapp/settings.py); set
LAB_DB_POOL=0 to turn it off. Importing it after the settings (tests) changes nothing.
"""
import asyncio
import logging
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from django.conf import settings as _settings  # noqa: E402

if not _settings.configured:  # this module is the entry point (an ASGI server imports it first)
    os.environ.setdefault("LAB_DB_POOL", "1")

import django  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from asgiref.sync import ThreadSensitiveContext, sync_to_async  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler, with the middleware chain and the view run as one synchronous
    call in the request's worker thread (like WSGI): one event-loop/thread switch per
    request. Django's own ASGI chain is async: each of our sync middleware steps
    (process_request, process_response) and the view hop to the worker thread and back,
    ~28 switches per request (profiled); the embedded-mode benchmark's server CPU went from
    7.5 to 4.8 ms per request with this. All our views and HTTP middleware are sync.

    The worker threads are WEB_THREADS persistent ones per process (asgiref's
    ThreadSensitiveContext with an executor: every synchronous step of one request runs on
    the one thread it leases, as Django requires), where Django would start a new thread per
    request: under load that start blocked the event loop, waiting for the GIL, in about 6%
    of the server's samples (py-spy). At most WEB_THREADS requests of a process are handled
    at once; the others wait in the event loop, in order. More threads than that only contend
    for the GIL without adding throughput."""

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
        self._threads = None

    async def __call__(self, scope, receive, send):
        limit = _settings.WEB_THREADS
        if not limit or scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        if self._threads is None:
            self._threads = asyncio.Queue()
            for i in range(limit):
                self._threads.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"web-{i}"))
        executor = await self._threads.get()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await super().__call__(scope, receive, send)
        finally:
            self._threads.put_nowait(executor)


django.setup(set_prefix=False)
django_asgi_app = SyncChainASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from webapp.lab.body_limits import BodyLimitMiddleware  # noqa: E402
from webapp.lab.routing import websocket_urlpatterns  # noqa: E402

log = logging.getLogger("webapp.lab")

router = ProtocolTypeRouter(
    {
        # request bodies over their limit are refused before Django reads (and spools) them
        "http": BodyLimitMiddleware(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


async def lifespan(receive, send):
    """Nothing to start; close the connection pool at shutdown. (The periodic reaper is
    Celery beat in Redis mode, not a thread per web process: see services/reaper.py.)"""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await sync_to_async(_close_pools, thread_sensitive=False)()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _close_pools():
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        close_pool = getattr(conn, "close_pool", None)
        if close_pool is not None:
            try:
                close_pool()
            except Exception:  # noqa: BLE001
                log.warning("could not close the connection pool", exc_info=True)


async def application(scope, receive, send):
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    else:
        await router(scope, receive, send)
