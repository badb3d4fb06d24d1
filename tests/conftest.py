"""Set-up shared by the whole suite.

The Django settings of the test session are `tests/settings.py` (named in pytest.ini): it
finds or starts the Postgres and Redis servers (`tests/services.py`) and configures the
app's settings for tests. Engine tests need no database: only tests that ask for the `db`
fixtures (or the django_db mark) touch it.
"""
