"""The test session's service discovery: a named server that does not answer stops the
session with a message saying so, and a throwaway Redis can be started and used."""
import pytest
import redis

from tests import services


def test_a_named_postgres_that_does_not_answer_stops_with_the_fix(monkeypatch):
    port = services._free_port()
    monkeypatch.setenv("TEST_DATABASE_URL", f"postgres://postgres@127.0.0.1:{port}/postgres")
    with pytest.raises(services.ServiceUnavailable, match=f"127.0.0.1:{port}.* does not answer"):
        services.postgres_url.__wrapped__()  # the choice itself, not the session's cached answer


def test_a_throwaway_redis_is_started_when_none_answers():
    url = services._start_redis()
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    client.set("labbench-probe", "1")
    assert client.get("labbench-probe") == b"1"
    assert not url.endswith(":6379/15")
