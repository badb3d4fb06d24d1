"""Sessions read from the cache and written through to the database (Django's cached_db),
with the cache as an optimisation only, as everywhere in the app (services/cache.py): when
it is unreachable (Redis down) a session is read from and written to the database and the
page is served. Django's own cached_db store lets some cache errors through (storing a
session it has just read from the database, deleting one, checking that one exists)."""
import logging

from django.contrib.sessions.backends import cached_db

log = logging.getLogger("webapp.lab")


class ForgivingCache:
    """The session cache's calls, with a failure logged and taken as a miss."""

    def __init__(self, cache):
        self.cache = cache

    def _try(self, call, default, *args):
        try:
            return call(*args)
        except Exception:  # noqa: BLE001 - the database still has every session
            log.warning("session cache unreachable (%s)", call.__name__, exc_info=True)
            return default

    def get(self, key, default=None):
        return self._try(self.cache.get, default, key, default)

    def set(self, key, value, timeout=None):
        self._try(self.cache.set, None, key, value, timeout)

    def delete(self, key):
        self._try(self.cache.delete, None, key)

    def __contains__(self, key):
        return bool(self._try(self.cache.has_key, False, key))

    async def aget(self, key, default=None):
        return self.get(key, default)

    async def aset(self, key, value, timeout=None):
        self.set(key, value, timeout)

    async def adelete(self, key):
        self.delete(key)


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._cache = ForgivingCache(self._cache)
