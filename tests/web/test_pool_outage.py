"""The connection pool (what the web processes use) through a real Postgres outage: the
test database behind a TCP proxy that the test stops (connections cut, port closed) and
starts again. Pages answer 503 with the clear message while it is down (after the pool's
short timeout here), and 200 again soon after it is back, without a restart: pooled
connections are health-checked before use, dead ones replaced. Postgres only."""
import time

import pytest
from django.db import close_old_connections, connection

from webapp.lab.models import Experiment, Run

from .conftest import make_task
from .live import app_database_url
from .test_outages import DB_DOWN, TcpProxy, _get, _pages

POOL = {"min_size": 1, "max_size": 3, "timeout": 2.0, "name": "test-pool"}


@pytest.fixture
def pooled_db_through_proxy(transactional_db):
    app_database_url()
    sd = connection.settings_dict
    saved = (sd["HOST"], sd["PORT"], dict(sd["OPTIONS"]), sd["CONN_MAX_AGE"])
    proxy = TcpProxy(sd["HOST"] or "127.0.0.1", sd["PORT"] or 5432).start()
    connection.close()
    sd["HOST"], sd["PORT"], sd["CONN_MAX_AGE"] = "127.0.0.1", proxy.port, 0
    sd["OPTIONS"] = {**sd["OPTIONS"], "pool": dict(POOL)}
    try:
        assert connection.pool is not None
        yield proxy
    finally:
        try:
            connection.close()
        except Exception:
            pass
        connection.close_pool()
        sd["HOST"], sd["PORT"], sd["OPTIONS"], sd["CONN_MAX_AGE"] = saved[0], saved[1], saved[2], saved[3]
        proxy.stop()


def test_pool_survives_postgres_restart(pooled_db_through_proxy, client, user):
    proxy = pooled_db_through_proxy
    task = make_task(user)
    exp = Experiment.objects.create(owner=user, train_task=task, methods=["sft"], n_values=[4])
    Run.objects.create(experiment=exp, method="sft", n=4, seed=0)
    client.force_login(user)
    close_old_connections()
    for _ in range(3):
        assert [_get(client, url).status_code for url in _pages(exp)] == [200] * 6
    stats = connection.pool.get_stats()
    assert stats["connections_num"] <= POOL["max_size"]  # reused, not one per request

    proxy.stop()
    for url in _pages(exp)[:3]:
        t0 = time.monotonic()
        resp = _get(client, url)
        assert resp.status_code == 503 and DB_DOWN in resp.content and b"Traceback" not in resp.content, url
        assert time.monotonic() - t0 < POOL["timeout"] + 3

    proxy.start()
    t0 = time.monotonic()
    while True:
        codes = [_get(client, url).status_code for url in _pages(exp)]
        if codes == [200] * 6:
            break
        assert time.monotonic() - t0 < 30, f"still {codes} {time.monotonic() - t0:.0f} s after the restart"
    recovered = time.monotonic() - t0
    assert recovered < 30
