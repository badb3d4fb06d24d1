"""Cache of derived payloads (results.json, an experiment's history and runs rows, per-example
tables), keyed by `Experiment.cache_key` (which changes whenever one of the experiment's
runs changes state, see `lifecycle.set_state`), a running experiment's also by its latest
progress flush (`by_progress`).

The cache is an optimisation only: when it is unreachable (Redis down) the payload is
computed from the database as if the entry were missing, and nothing fails.

`SharedConnectionPool` is the Redis cache's pool class (settings.CACHES): Django keeps a
cache backend object per thread, and under ASGI every request runs in a new thread, so
with redis-py's own pool class each request built a new pool and opened (and set up) a
new Redis connection. One pool per process and URL is shared by all of them instead.
"""
import json
import logging
import threading

import redis
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder

log = logging.getLogger("webapp.lab")
_MISSING = object()
LIVE_SECONDS = 60  # a running experiment's live payloads, cached per progress flush: kept only briefly


class SharedConnectionPool(redis.ConnectionPool):
    """A redis-py pool shared by every cache backend object of this process (per URL and
    options). redis-py pools are thread-safe and reset themselves after a fork."""

    _shared = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url, **kwargs):
        key = (url, tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
        with cls._lock:
            pool = cls._shared.get(key)
            if pool is None:
                pool = cls._shared[key] = super().from_url(url, **kwargs)
            return pool


def get(key):
    try:
        return cache.get(key, _MISSING)
    except Exception:  # noqa: BLE001 - the cache is never worth a failed page
        log.warning("cache unreachable (get %s)", key, exc_info=True)
        return _MISSING


def put(key, value, timeout=None):
    try:
        if timeout is None:
            cache.set(key, value)
        else:
            cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001
        log.warning("cache unreachable (set %s)", key, exc_info=True)


def remember(key, compute, timeout=None):
    """The value under `key`, or `compute()` stored there (for `timeout` seconds; None: the
    cache's default) when it is missing or the cache is unreachable."""
    hit = get(key)
    if hit is not _MISSING:
        return hit
    value = compute()
    put(key, value, timeout)
    return value


def encode(payload):
    """The compact JSON bytes of a payload (dates and decimals as Django encodes them)."""
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def by_progress(experiment, kind, compute, *parts):
    """(payload, final) for a payload of the experiment's runs as they stand. While every run is
    final it is cached under the results version (`Experiment.cache_key`, bumped by every state
    change; a hit needs no query) and final; while a run is live, briefly under the latest
    progress flush too (`Experiment.live_beat`), so that it is never behind the database."""
    key = experiment.cache_key(kind, *parts)
    hit = get(key)
    if hit is not _MISSING:
        return hit, True
    beat = experiment.live_beat()
    if beat is None:
        payload = compute()
        put(key, payload)
        return payload, True
    return remember(experiment.cache_key(f"{kind}-live", *parts, beat), compute, LIVE_SECONDS), False
