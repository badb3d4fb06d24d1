"""A job redelivered after its worker died (prefork child killed: the message is put back
on the queue while the run is still "running") claims the run again instead of skipping
it, when the previous owner is provably gone (same host, its pid no longer exists) or its
heartbeat is stale; partial rows of the dead attempt are discarded; after
LAB_MAX_ATTEMPTS the run is failed with the reason. A live owner keeps its run.
Function level: run_job / claim / claim_redelivered (with an injected clock) on the test
database, the fake engine."""
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.lab.models import EvalResult, MetricPoint, Run, RunEvent
from webapp.lab.services import lifecycle
from webapp.lab.services.lifecycle import owner_lost, run_job
from workers import celery_tasks

from .conftest import make_run, make_sft_experiment


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def running(user):
    """A run claimed by a worker (attempt 1) with partial rows from that attempt."""
    exp = make_sft_experiment(user)

    def make(worker, heartbeat_age=1.0, attempts=1):
        now = timezone.now()
        run = make_run(exp, "sft", 4, 0, state="running", stage="sft", step=7, total=20, attempts=attempts,
                       worker=worker, started_at=now - timedelta(seconds=60),
                       heartbeat_at=now - timedelta(seconds=heartbeat_age))
        MetricPoint.objects.bulk_create(MetricPoint(run=run, series="sft/loss", step=i, value=9.0) for i in range(7))
        EvalResult.objects.create(run=run, eval_task_name="half-written")
        return run

    return make


@pytest.mark.django_db
def test_dead_process_on_this_host_is_claimed_again(running, fake_runner):
    run = running(f"{socket.gethostname()}:{_dead_pid()}")  # fresh heartbeat, but the process is gone
    assert "is gone" in owner_lost(run)
    assert run_job(run.pk) == "done"
    run.refresh_from_db()
    assert run.state == "done" and run.attempts == 2 and len(fake_runner.calls) == 1
    assert run.worker == lifecycle.worker_id()
    assert not MetricPoint.objects.filter(run=run, value=9.0).exists()  # the dead attempt's points are gone
    assert MetricPoint.objects.filter(run=run).count() == 20
    assert list(EvalResult.objects.filter(run=run).values_list("eval_task_name", flat=True)) == ["sentiment"]
    messages = list(RunEvent.objects.filter(run=run, kind="state").values_list("message", flat=True))
    assert any("worker lost (worker process" in m and "starting the run again" in m for m in messages)
    assert any("started again (attempt 2)" in m for m in messages)


@pytest.mark.django_db
def test_stale_heartbeat_on_another_host_is_claimed_again(running, fake_runner, settings):
    settings.LAB_HEARTBEAT_TIMEOUT = 30
    run = running("another-host:4242", heartbeat_age=45)
    assert owner_lost(run) == "no heartbeat for 30 s"
    assert run_job(run.pk) == "done"
    run.refresh_from_db()
    assert run.attempts == 2 and len(fake_runner.calls) == 1
    assert any("worker lost (no heartbeat for 30 s)" in m
               for m in RunEvent.objects.filter(run=run).values_list("message", flat=True))


@pytest.mark.django_db
def test_live_owner_keeps_its_run(running, fake_runner):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        run = running(f"{socket.gethostname()}:{alive.pid}")
        assert owner_lost(run) is None
        assert run_job(run.pk) == "running" and fake_runner.calls == []  # skipped: someone is on it
        run.refresh_from_db()
        assert run.state == "running" and run.attempts == 1 and MetricPoint.objects.filter(run=run).count() == 7
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.django_db
def test_attempts_exhausted_fails_with_reason(running, fake_runner, settings):
    settings.LAB_MAX_ATTEMPTS = 2
    run = running(f"{socket.gethostname()}:{_dead_pid()}", attempts=2)
    assert run_job(run.pk) == "failed" and fake_runner.calls == []
    run.refresh_from_db()
    assert run.state == "failed" and "worker lost" in run.error and "not started again" in run.error
    assert "during attempt 2 of 2" in run.message


class FakeTime:
    """An injected clock for `claim_redelivered`: sleeping advances it instantly, and
    `on_sleep` may act in the meantime (an owner that is alive beats)."""

    def __init__(self, on_sleep=None):
        self.now, self.sleeps, self.on_sleep = 0.0, 0, on_sleep

    def sleep(self, seconds):
        self.now += seconds
        self.sleeps += 1
        if self.on_sleep:
            self.on_sleep()

    def clock(self):
        return self.now


@pytest.mark.django_db
def test_redelivered_job_claims_a_run_whose_heartbeat_stands_still(running, fake_runner, settings):
    """Owner on another host with a fresh heartbeat: a redelivered job watches it for two
    heartbeat periods (+ two polls); it stood still, so the job claims the run."""
    settings.LAB_HEARTBEAT_TIMEOUT = 30  # heartbeat every 10 s: patience 2 * 10 + 2 * 1 = 22 s
    run = running("another-host:4242")
    assert owner_lost(run) is None
    assert run_job(run.pk) == "running" and fake_runner.calls == []  # not redelivered: just skipped
    fake = FakeTime()
    claimed, state = lifecycle.claim_redelivered(run.pk, sleep=fake.sleep, clock=fake.clock)
    assert state == "running" and claimed.pk == run.pk
    assert fake.now == pytest.approx(22.0) and fake.sleeps == 22  # it waited exactly its patience
    run.refresh_from_db()
    assert run.attempts == 2 and run.worker == lifecycle.worker_id()
    assert any("no heartbeat for 22 s after the job was redelivered" in m
               for m in RunEvent.objects.filter(run=run).values_list("message", flat=True))


@pytest.mark.django_db
def test_redelivered_job_leaves_a_run_whose_heartbeat_moves(running, fake_runner, settings):
    settings.LAB_HEARTBEAT_TIMEOUT = 30
    run = running("another-host:4243")
    beats = []

    def owner_beats():  # the owner is alive: its heartbeat moves while the job watches
        if len(beats) < 5:
            beats.append(1)
            return
        Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())

    fake = FakeTime(on_sleep=owner_beats)
    assert lifecycle.claim_redelivered(run.pk, sleep=fake.sleep, clock=fake.clock) == (None, "running")
    assert fake.sleeps == 6  # it stopped watching as soon as the heartbeat moved
    run.refresh_from_db()
    assert run.attempts == 1 and run.state == "running" and run.worker == "another-host:4243"


@pytest.mark.django_db
def test_run_job_watches_only_when_redelivered(running, fake_runner, monkeypatch):
    watched = []
    monkeypatch.setattr(lifecycle, "claim_redelivered", lambda run_id: watched.append(run_id) or (None, "running"))
    run = running("another-host:4244")
    assert run_job(run.pk) == "running" and watched == []
    assert run_job(run.pk, redelivered=True) == "running" and watched == [run.pk]


@pytest.mark.django_db
def test_celery_task_passes_redelivered_flag(monkeypatch):
    seen = []
    monkeypatch.setattr(lifecycle, "run_job", lambda run_id, redelivered=False: seen.append((run_id,
                                                                                               redelivered)))
    celery_tasks.execute_run.apply(args=[5])  # eager: no delivery info
    assert seen == [(5, False)]
