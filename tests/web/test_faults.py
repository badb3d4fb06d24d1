"""Faults: the heartbeat reaper, and the 503 page for database/Redis outages."""
from datetime import timedelta

import pytest
import redis
from django.db import OperationalError
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from webapp.lab.middleware import ServiceUnavailableMiddleware, server_error
from webapp.lab.models import Experiment, Run, RunEvent
from webapp.lab.services.lifecycle import reap_stale_runs

from .conftest import make_task


@pytest.mark.django_db
def test_reaper_fails_runs_without_heartbeat(user, client):
    task = make_task(user)
    exp = Experiment.objects.create(owner=user, train_task=task, methods=["sft"], n_values=[4])
    now = timezone.now()
    stale = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, state="running", attempts=2,
                               heartbeat_at=now - timedelta(seconds=61), started_at=now - timedelta(seconds=120))
    fresh = Run.objects.create(experiment=exp, method="sft", n=4, seed=1, state="running", heartbeat_at=now)
    queued = Run.objects.create(experiment=exp, method="sft", n=4, seed=2)
    assert [r.pk for r in reap_stale_runs()] == [stale.pk]
    stale.refresh_from_db(), fresh.refresh_from_db(), queued.refresh_from_db()
    # default timeout 30 s; LAB_MAX_ATTEMPTS (2) starts used up: failed with the reason
    assert stale.state == "failed"
    assert stale.error == "worker lost (no heartbeat for 30 s) during attempt 2 of 2; not started again"
    assert fresh.state == "running" and queued.state == "queued"
    assert RunEvent.objects.filter(run=stale, kind="state").exists()
    assert reap_stale_runs() == []


@pytest.mark.django_db
def test_reaper_requeues_a_dead_attempt_while_attempts_remain(user, client, settings):
    """The retry rule (docs/web.md, Faults): a run whose worker died is queued again (to be
    sent again by the outbox) and its partial rows dropped, until LAB_MAX_ATTEMPTS starts."""
    from webapp.lab.models import MetricPoint
    from webapp.lab.services.dispatch import pending

    settings.LAB_MAX_ATTEMPTS = 3
    task = make_task(user)
    exp = Experiment.objects.create(owner=user, train_task=task, methods=["sft"], n_values=[4])
    old = timezone.now() - timedelta(seconds=61)
    run = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, state="running", attempts=1,
                             heartbeat_at=old, started_at=old, dispatched_at=old, worker="gone:1", stage="sft")
    MetricPoint.objects.create(run=run, series="sft/loss", step=1, value=1.0)
    assert [r.pk for r in reap_stale_runs()] == [run.pk]
    run.refresh_from_db()
    assert run.state == "queued" and run.attempts == 1 and run.worker == "" and run.error == ""
    assert list(pending()) == [run] and not run.points.exists()
    reason = "worker lost (no heartbeat for 30 s) during attempt 1 of 3; queued again"
    assert run.events.filter(kind="state").last().message == f"queued: {reason}"
    client.force_login(user)
    page = client.get(f"/experiments/{exp.pk}/").content.decode()
    assert reason in page


@pytest.mark.django_db
def test_experiment_page_load_does_not_reap(user, client):
    """A GET changes nothing: reaping is the periodic reaper's job (services/reaper.py)."""
    task = make_task(user)
    exp = Experiment.objects.create(owner=user, train_task=task, methods=["sft"], n_values=[4])
    run = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, state="running",
                             heartbeat_at=timezone.now() - timedelta(minutes=5))
    client.force_login(user)
    assert client.get(f"/experiments/{exp.pk}/").status_code == 200
    run.refresh_from_db()
    assert run.state == "running" and run.error == ""
    assert [r.pk for r in reap_stale_runs()] == [run.pk]  # it was stale: a reaper pass takes it


@pytest.mark.parametrize("exc", [OperationalError("connection refused"),
                                 redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379")])
def test_middleware_turns_connection_errors_into_503(exc):
    def view(request):
        raise exc

    mw = ServiceUnavailableMiddleware(view)
    request = RequestFactory().get("/experiments/")
    resp = mw.process_exception(request, exc)
    assert resp.status_code == 503 and resp["Retry-After"]
    assert b"temporarily unreachable" in resp.content and b"Traceback" not in resp.content
    assert mw.process_exception(request, ValueError("other")) is None
    assert ServiceUnavailableMiddleware(lambda r: HttpResponse("ok"))(request).status_code == 200


@pytest.mark.django_db
def test_database_outage_gives_503_page(client, user, monkeypatch):
    client.force_login(user)

    def down(*args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    monkeypatch.setattr("webapp.lab.models.Experiment.objects.filter", down)
    resp = client.get("/experiments/")
    assert resp.status_code == 503
    assert b"The database is temporarily unreachable; retry in a moment" in resp.content


def test_handler500_uses_503_for_outages():
    request = RequestFactory().get("/")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        resp = server_error(request)
    assert resp.status_code == 503
