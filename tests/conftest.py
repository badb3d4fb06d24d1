"""Set-up shared by the whole suite.

The Django settings of the test session are `tests/settings.py` (named in pytest.ini): it
finds or starts the Postgres and Redis servers (`tests/services.py`) and configures the
app's settings for tests. Engine tests need no database: only tests that ask for the `db`
fixtures (or the django_db mark) touch it.
"""


def pytest_report_header(config):
    """Which Postgres and Redis this run uses, whether it reused or started them, and its
    own test database (tests/services.py, tests/settings.py)."""
    from django.conf import settings

    from tests.services import CHOSEN

    lines = [f"{service}: {where}" for service, where in CHOSEN.items()]
    test_db = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if test_db:
        lines.append(f"test database: {test_db} (created for this run, dropped at its end)")
    return lines
