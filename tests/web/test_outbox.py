"""Crash-proof dispatch (the transactional outbox of services/dispatch.py): runs are written
"to dispatch" with their experiment, sent after commit and marked sent; the periodic pass
sends what a dead web process or a vanished broker left unsent; a run delivered twice
executes once."""
import pytest

from webapp.lab.models import Experiment, Run
from webapp.lab.services import dispatch, lifecycle
from webapp.lab.services.reaper import periodic_pass

from .conftest import experiment_post, make_run, make_sft_experiment
from .live import REDIS_URL, point_celery_at, redis_client


@pytest.fixture
def celery_on_redis(settings):
    broker = redis_client()
    settings.LAB_EXECUTOR = "celery"
    point_celery_at(REDIS_URL)
    yield broker
    point_celery_at("memory://")
    broker.flushdb()


@pytest.mark.django_db(transaction=True)
def test_launch_sends_after_commit_and_marks_runs_sent(celery_on_redis, client_in, task, no_engine_check):
    resp = client_in.post("/experiments/new/", experiment_post(task))
    assert resp.status_code == 302
    runs = list(Experiment.objects.get().runs.all())
    assert len(runs) == 2 and all(r.dispatched_at and r.celery_task_id for r in runs)
    assert celery_on_redis.llen("cpu") == 2
    assert not dispatch.pending().exists()


@pytest.mark.django_db(transaction=True)
def test_runs_committed_but_never_sent_are_sent_by_the_periodic_pass(celery_on_redis, client_in, task,
                                                                       no_engine_check, monkeypatch, settings):
    """The broker vanishes between the launch's check and its send (as when the web process
    dies there): the experiment and its runs are kept, pending, and the sweep sends them."""
    from webapp.celery_app import app

    def broker_gone(*args, **kwargs):
        raise ConnectionError("broker went away")

    with monkeypatch.context() as patched:
        patched.setattr(app, "send_task", broker_gone)
        resp = client_in.post("/experiments/new/", experiment_post(task))
    assert resp.status_code == 302
    exp = Experiment.objects.get()
    assert exp.runs.count() == 2 and dispatch.pending().count() == 2 and celery_on_redis.llen("cpu") == 0

    settings.LAB_DISPATCH_GRACE = 3600
    assert periodic_pass() == ([], 0)  # within the grace the launching process is trusted to send
    settings.LAB_DISPATCH_GRACE = 0
    reaped, sent = periodic_pass()
    assert sent == 2 and not dispatch.pending().exists() and celery_on_redis.llen("cpu") == 2
    assert periodic_pass()[1] == 0  # sent once


def test_a_run_delivered_twice_executes_once(user, fake_runner):
    run = make_run(make_sft_experiment(user))
    assert lifecycle.run_job(run.pk) == Run.DONE
    assert lifecycle.run_job(run.pk) == Run.DONE  # the second delivery finds it done and skips it
    assert lifecycle.run_job(run.pk, redelivered=True) == Run.DONE
    run.refresh_from_db()
    assert len(fake_runner.calls) == 1 and run.attempts == 1
    assert run.results.count() == 1


def test_a_run_cancelled_before_delivery_never_executes(user, fake_runner):
    run = make_run(make_sft_experiment(user))
    lifecycle.cancel_run(run, revoke=lambda r: True)
    assert lifecycle.run_job(run.pk) == Run.CANCELLED and fake_runner.calls == []
