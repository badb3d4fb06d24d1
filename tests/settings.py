"""Django settings for the test session: the app's own settings, configured by the tests.

The app's settings know nothing about pytest. This module (pytest.ini names it) fixes the
environment first, then loads them: the test Postgres server (found or started by
tests/services.py; pytest-django creates its test database there, named per session), no REDIS_URL (in-memory
channel layer, local-memory cache: tests that want Redis opt in with REDIS_URL_FOR_TESTS),
the `manual` executor (runs stay queued until a test executes them), no periodic reaper
(tests start it themselves) and no connection pool unless a test asks for one.
Subprocesses the tests start (app servers, Celery workers) get their DATABASE_URL and
REDIS_URL from the helpers in tests/web/live.py.
"""
import os

from tests.services import postgres_url, redis_url

os.environ["DATABASE_URL"] = postgres_url()
os.environ["REDIS_URL_FOR_TESTS"] = redis_url()
os.environ["REDIS_URL"] = ""  # empty, not absent: a developer's .env cannot fill it in
os.environ.pop("LAB_DB_POOL", None)  # app servers started by tests choose their own
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from webapp.settings import *  # noqa: E402,F401,F403

# one test database per session (pytest-django's default, "test_<NAME>", is the same for every
# run, so two suites on one machine dropped each other's database). App servers and workers the
# tests start read the name from the open connection (tests/web/live.app_database_url).
DATABASES["default"]["TEST"] = {**DATABASES["default"].get("TEST", {}),  # noqa: F405
                                "NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"[:63]}  # noqa: F405

# set here, not in the environment, so that app servers the tests start keep their defaults
LAB_EXECUTOR = "manual"
LAB_REAPER_INTERVAL = 0.0
