"""Test set-up shared by the whole suite.

When TEST_DATABASE_URL is set (CI: postgres://postgres@127.0.0.1:5432/postgres),
Django tests use that Postgres; it is put in DATABASE_URL before settings load.
Runs are never executed in the background during tests (LAB_EXECUTOR=manual) and
the channel layer is the in-memory one. Engine tests need no database: only tests
that ask for the `db` fixtures (or the django_db mark) touch it.
"""
import os

if os.environ.get("TEST_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
os.environ.pop("REDIS_URL", None)
os.environ["LAB_EXECUTOR"] = "manual"
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
