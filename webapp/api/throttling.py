"""The API's rate limit per token: at most LAB_API_RATE_LIMIT requests per
LAB_API_RATE_WINDOW seconds for each personal token (a signed-in browser session that reads
counts per user), then 429 with Retry-After until the window ends.

A fixed window counted in the Django cache (shared by the web processes in Redis mode): one
`add` and one `incr` per request, where ninja's own throttles keep and rewrite a list of
timestamps. When the cache is unreachable the request goes through (the limit protects the
server from a runaway script; it is not an access rule)."""
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from ninja.throttling import BaseThrottle

from webapp.teams.models import hash_token

log = logging.getLogger("webapp.api")


def _ident(request):
    header = request.headers.get("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + hash_token(token.strip())
    user = getattr(request, "user", None)
    return f"user:{user.pk}" if user is not None and user.is_authenticated else None


class TokenRateThrottle(BaseThrottle):
    """ninja runs it after authentication, so only known tokens and users are counted. One
    instance serves every request thread: the wait of the last refusal is per thread."""

    def __init__(self):
        self._last = threading.local()

    def allow_request(self, request):
        self._last.retry_after = None
        ident = _ident(request)
        limit, window = settings.LAB_API_RATE_LIMIT, settings.LAB_API_RATE_WINDOW
        if ident is None or not limit:
            return True
        now = time.time()
        start = int(now // window) * window
        key = f"api-rate:{ident}:{start}"
        try:
            cache.add(key, 0, timeout=window + 1)
            count = cache.incr(key)
        except Exception:  # noqa: BLE001 - see the module docstring
            log.warning("API rate limit not applied: the cache is unreachable", exc_info=True)
            return True
        if count <= limit:
            return True
        self._last.retry_after = max(1.0, start + window - now)
        return False

    def wait(self):
        return getattr(self._last, "retry_after", None)
