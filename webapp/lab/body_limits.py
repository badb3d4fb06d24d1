"""Request body limits at the server layer, before anything touches disk.

Django's ASGI handler reads a whole request body before any view or middleware runs, into a
temporary file once it passes FILE_UPLOAD_MAX_MEMORY_SIZE; so a 300 MB anonymous POST to the
sign-in page put ~300 MB in /tmp before the CSRF check refused it (issue 22, item 4), and the
upload limit (uploads.py) only stopped the second copy, the multipart parser's.

This ASGI middleware sits in front of Django. A body may be LAB_MAX_ANONYMOUS_BODY_BYTES
(sign-in and sign-up forms are tiny); a signed-in user (a session cookie whose session holds
a user, or a personal API token) may send LAB_MAX_BODY_BYTES (an upload of
LAB_MAX_UPLOAD_BYTES with its form). The session or token is read only when a body is larger
than the anonymous limit. A Content-Length over the limit is refused at once with 413, before
a byte of the body is read; a body without one (chunked) is counted as it streams in, and
refused the moment it passes the limit: Django is told the client left (it drops the partial
body, which stayed under the limit), and the client gets the 413. The 413 does not close the
connection itself: uvicorn then drops the rest of the body as it arrives (nothing is stored)
until it ends or the keep-alive timeout closes the connection. Closing at once made the
kernel reset a connection that still had body bytes coming, and a client still sending
lost the answer."""
import json
import logging
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http.cookie import parse_cookie

log = logging.getLogger("webapp.lab")


def signed_in(cookie_header, authorization):
    """Whether the request carries a live sign-in: a personal API token, or a session cookie
    whose session holds a user. Runs in a worker thread (it reads the session store or the
    token table) and gives its database connection back."""
    from django.db import close_old_connections

    try:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            from webapp.api.services import user_for_token

            return user_for_token(token.strip()) is not None
        key = parse_cookie(cookie_header).get(settings.SESSION_COOKIE_NAME)
        if not key:
            return False
        store = import_module(settings.SESSION_ENGINE).SessionStore(key)
        return "_auth_user_id" in store.load()
    except Exception:  # noqa: BLE001 - an unreadable session is no sign-in
        log.warning("body limit: could not read the session or token; the anonymous limit applies", exc_info=True)
        return False
    finally:
        close_old_connections()


def refusal(path, limit):
    """(content type, body) of the 413: JSON under /api/, a short page elsewhere."""
    mb = limit / 2**20
    if path.startswith("/api/"):
        detail = (f"The request body is larger than {mb:.2f} MB, the limit for this request; nothing was read "
                  "or stored. Send a smaller file (imports take at most "
                  f"{settings.LAB_MAX_UPLOAD_BYTES / 2**20:.0f} MB), or split it.")
        return b"application/json", json.dumps({"detail": detail}).encode()
    from django.template.loader import render_to_string

    message = (f"The request was larger than {mb:.2f} MB, the limit for this request; nothing was read or "
               f"saved. Imports take files of at most {settings.LAB_MAX_UPLOAD_BYTES / 2**20:.0f} MB "
               "when you are signed in: split a larger file.")
    return b"text/html; charset=utf-8", render_to_string("400.html", {"title": "Request too large",
                                                                      "message": message}).encode()


class _Request:
    """One HTTP request's body accounting."""

    def __init__(self, scope):
        headers = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name.lower(), value.decode("latin-1"))
        self.path = scope.get("path", "")
        self.cookie = headers.get(b"cookie", "")
        self.authorization = headers.get(b"authorization", "")
        try:
            self.declared = int(headers[b"content-length"])
        except (KeyError, ValueError):
            self.declared = None
        self.limit = None  # decided when a body passes the anonymous limit
        self.received = 0
        self.refused = False
        self.started = False

    async def limit_for(self, size):
        """The limit that applies to a body of `size` bytes."""
        anonymous = settings.LAB_MAX_ANONYMOUS_BODY_BYTES
        if size <= anonymous:
            return anonymous
        if self.limit is None:
            can_sign_in = self.cookie or self.authorization
            self.limit = settings.LAB_MAX_BODY_BYTES if can_sign_in and await sync_to_async(
                signed_in, thread_sensitive=False)(self.cookie, self.authorization) else anonymous
        return self.limit


class BodyLimitMiddleware:
    """ASGI middleware around the HTTP application (webapp/asgi.py)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = _Request(scope)
        if request.declared is not None and request.declared > await request.limit_for(request.declared):
            return await self._refuse(request, send)

        async def counted_receive():
            message = await receive()
            if message["type"] == "http.request" and not request.refused:
                request.received += len(message.get("body", b""))
                if request.received > await request.limit_for(request.received):
                    request.refused = True
                    return {"type": "http.disconnect"}  # Django drops what it read and answers nothing
            return message

        async def tracked_send(message):
            if message["type"] == "http.response.start":
                request.started = True
            await send(message)

        await self.app(scope, counted_receive, tracked_send)
        if request.refused and not request.started:
            await self._refuse(request, send)

    async def _refuse(self, request, send):
        limit = request.limit or settings.LAB_MAX_ANONYMOUS_BODY_BYTES
        log.warning("request body over %d bytes refused (413): %s", limit, request.path[:200])
        content_type, body = refusal(request.path, limit)
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"content-security-policy", b"default-src 'self'; script-src 'none'; frame-ancestors 'none'")]})
        await send({"type": "http.response.body", "body": body})
