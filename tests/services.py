"""The Postgres and Redis servers a test session uses, found or started once per session.

Order of choice, for each service:
1. the URL the environment names (TEST_DATABASE_URL, REDIS_URL_FOR_TESTS), used as given:
   when it does not answer, the session stops, since somebody asked for that server;
2. a server already answering on the default local port (5432, 6379): CI and most
   developer machines have one;
3. a throwaway server started for this session with pytest-postgresql's / pytest-redis's
   executor in a temporary folder (stopped when the session ends).
When none of these works the session stops with the command that installs the server:
`make test` runs the whole suite or fails loudly, it never skips a service.
`CHOSEN` records which server each service got and how (pytest's report header prints it,
tests/conftest.py), so a run says whether it reused a server or started one.
"""
import atexit
import functools
import getpass
import os
import shutil
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/15"
POSTGRES_HINT = ("install PostgreSQL (Debian/Ubuntu: apt-get install postgresql) and start it, or set "
                 "TEST_DATABASE_URL=postgres://USER@HOST:PORT/DB")
REDIS_HINT = "install Redis (Debian/Ubuntu: apt-get install redis-server), or set REDIS_URL_FOR_TESTS=redis://HOST:PORT/DB"


CHOSEN = {}  # "Postgres" / "Redis" -> "host:port/db (how it was found)"


def _chose(service, url, how):
    """Remember the server a service got, without credentials."""
    parts = urlsplit(url)
    CHOSEN[service] = f"{parts.hostname}:{parts.port}{parts.path} ({how})"
    return url


class ServiceUnavailable(RuntimeError):
    """A service the suite needs could not be found nor started."""


def _answers(host, port, timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_answers(url):
    import psycopg

    try:
        psycopg.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=2).close()
        return True
    except psycopg.Error:
        return False


def _pg_ctl():
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return str(candidates[-1]) if candidates else None


def _start_postgres():
    """A throwaway cluster in a temporary folder, owned by this session."""
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    pg_ctl = _pg_ctl()
    if pg_ctl is None:
        raise ServiceUnavailable(f"no PostgreSQL server answers and pg_ctl is not installed: {POSTGRES_HINT}")
    if os.geteuid() == 0:
        raise ServiceUnavailable("no PostgreSQL server answers, and PostgreSQL refuses to start a throwaway "
                                 f"cluster as root: start the system one (pg_ctlcluster ... start) or {POSTGRES_HINT}")
    tmp = Path(tempfile.mkdtemp(prefix="labbench-pg-"))
    port = _free_port()
    user = getpass.getuser()
    executor = PostgreSQLExecutor(executable=pg_ctl, host="127.0.0.1", port=port, datadir=str(tmp / "data"),
                                  unixsocketdir=str(tmp), logfile=str(tmp / "postgres.log"), startparams="-w",
                                  dbname="labbench_test", user=user)
    executor.start()
    atexit.register(_stop, executor, tmp)
    return f"postgres://{user}@127.0.0.1:{port}/postgres"


def _start_redis():
    from pytest_redis.executor.process import RedisExecutor

    server = shutil.which("redis-server")
    if server is None:
        raise ServiceUnavailable(f"no Redis server answers and redis-server is not installed: {REDIS_HINT}")
    tmp = Path(tempfile.mkdtemp(prefix="labbench-redis-"))
    port = _free_port()
    executor = RedisExecutor(executable=server, databases=16, redis_timeout=30, loglevel="warning",
                             host="127.0.0.1", port=port, datadir=tmp)
    executor.start()
    atexit.register(_stop, executor, tmp)
    return f"redis://127.0.0.1:{port}/15"


def _stop(executor, folder):
    try:
        executor.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@functools.cache
def postgres_url():
    """A Postgres server URL the tests may create their databases on (once per session: a
    second call must not start a second server)."""
    given = os.environ.get("TEST_DATABASE_URL", "")
    if given:
        if not _postgres_answers(given):
            raise ServiceUnavailable(f"TEST_DATABASE_URL={given} does not answer; start that server or unset "
                                     "the variable to use a local or throwaway one")
        return _chose("Postgres", given, "reused: TEST_DATABASE_URL")
    if _answers("127.0.0.1", 5432) and _postgres_answers(LOCAL_POSTGRES):
        return _chose("Postgres", LOCAL_POSTGRES, "reused: the server on the default port")
    return _chose("Postgres", _start_postgres(), "started for this session, stopped at its end")


@functools.cache
def redis_url():
    """A Redis URL (a database number the tests may flush)."""
    given = os.environ.get("REDIS_URL_FOR_TESTS", "")
    if given:  # checked by the tests that use it, with the URL in the message
        return _chose("Redis", given, "reused: REDIS_URL_FOR_TESTS")
    if _answers("127.0.0.1", 6379):
        return _chose("Redis", LOCAL_REDIS, "reused: the server on the default port")
    return _chose("Redis", _start_redis(), "started for this session, stopped at its end")
