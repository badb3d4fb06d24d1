"""Test set-up shared by the whole suite.

Which database the Django tests use is decided in `webapp/settings.py`, not here:
pytest-django imports the settings before this file runs, so setting DATABASE_URL here
would come too late. Under pytest (`"pytest" in sys.modules`) the settings take
TEST_DATABASE_URL when it is set (CI: postgres://postgres@127.0.0.1:5432/postgres;
pytest-django creates `test_postgres` on that server), else DATABASE_URL or the
default SQLite file (pytest-django then tests on its in-memory copy); they also ignore
REDIS_URL (in-memory channel layer, local-memory cache), use the `manual` executor
(runs stay queued until a test calls `run_job`), turn the periodic reaper off
(LAB_REAPER_INTERVAL=0); the connection pool is off unless LAB_DB_POOL=1 is in the
environment. Tests that want Redis, the pool or the reaper opt in themselves.

What this file does: it removes REDIS_URL and LAB_DB_POOL and sets LAB_EXECUTOR=manual
and a SECRET_KEY in os.environ, for anything the tests start in a subprocess that
inherits the environment (the subprocess helpers pass their own DATABASE_URL). Engine
tests need no database: only tests that ask for the `db` fixtures (or the django_db
mark) touch it.
"""
import os

os.environ.pop("REDIS_URL", None)
os.environ.pop("LAB_DB_POOL", None)
os.environ["LAB_EXECUTOR"] = "manual"
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
