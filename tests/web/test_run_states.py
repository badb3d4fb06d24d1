"""A run's life is one table (`Run.TRANSITIONS`), enforced by `lifecycle.set_state`: every
move the table allows is applied, every other one is refused with IllegalTransition and
leaves the row and its events as they were. The final, cancellable and retryable states are
read from the table; a move is applied only while the row is as its caller read it (state
and attempt token); a dead attempt is marked on its event (`RunEvent.lost_attempt`), not
recognised by its text."""
import importlib
import itertools
import uuid

import pytest
from django.apps import apps

from webapp.lab.models import IllegalTransition, Run, RunEvent
from webapp.lab.services import lifecycle

from .conftest import make_run, make_sft_experiment

STATES = [s for s, _ in Run.STATE_CHOICES]
# the life of a run as the product has it, written out here to check the table against
LEGAL = {
    ("queued", "running"), ("queued", "cancelled"),
    ("running", "running"), ("running", "done"), ("running", "failed"), ("running", "cancelled"),
    ("running", "queued"),
    ("failed", "queued"), ("cancelled", "queued"),
}
PAIRS = list(itertools.product(STATES, STATES))


def test_the_table_is_the_life_of_a_run_and_the_rest_is_derived_from_it():
    table = {(a, b) for a, moves in Run.TRANSITIONS.items() for b in moves}
    assert table == LEGAL and set(Run.TRANSITIONS) == set(STATES)
    assert Run.FINAL_STATES == ("done", "failed", "cancelled")
    assert Run.UNFINISHED_STATES == ("queued", "running")
    assert Run.CANCELLABLE_STATES == ("queued", "running")
    assert Run.RETRYABLE_STATES == ("failed", "cancelled")


@pytest.fixture
def exp(user):
    return make_sft_experiment(user)


def _run_in(exp, state):
    token = uuid.uuid4() if state == "running" else None
    return make_run(exp, state=state, attempts=1 if state != "queued" else 0, attempt_token=token)


@pytest.mark.django_db
@pytest.mark.parametrize("before,after", sorted(LEGAL))
def test_every_legal_move_is_applied(exp, before, after):
    run = _run_in(exp, before)
    ev = lifecycle.set_state(run, after, message="moved")
    assert ev is not None and ev.message == f"{after}: moved"
    assert Run.objects.get(pk=run.pk).state == after == run.state


@pytest.mark.django_db
@pytest.mark.parametrize("before,after", sorted(set(PAIRS) - LEGAL))
def test_every_illegal_move_is_refused_and_changes_nothing(exp, before, after):
    run = _run_in(exp, before)
    row = Run.objects.filter(pk=run.pk).values().get()
    with pytest.raises(IllegalTransition) as caught:
        lifecycle.set_state(run, after, message="moved")
    assert f"from {before!r} to {after!r}" in str(caught.value)
    assert Run.objects.filter(pk=run.pk).values().get() == row and run.state == before
    assert not RunEvent.objects.filter(run=run).exists()


@pytest.mark.django_db
def test_a_move_from_a_state_the_row_no_longer_has_is_dropped(exp):
    """Compare-and-set: whoever read the run before another move (a claim, the reaper, a
    cancel) got there first changes nothing."""
    run = _run_in(exp, "queued")
    Run.objects.filter(pk=run.pk).update(state="running", attempt_token=uuid.uuid4())  # a worker claimed it
    assert lifecycle.set_state(run, "cancelled") is None
    assert Run.objects.get(pk=run.pk).state == "running" and run.state == "queued"
    assert not RunEvent.objects.filter(run=run).exists()


@pytest.mark.django_db
def test_a_move_by_an_attempt_that_lost_the_run_is_dropped(exp):
    stale = _run_in(exp, "running")
    Run.objects.filter(pk=stale.pk).update(attempt_token=uuid.uuid4(), attempts=2)  # claimed again
    assert lifecycle.set_state(stale, "done", message="done") is None
    assert Run.objects.get(pk=stale.pk).state == "running"


@pytest.mark.django_db
def test_dead_attempts_are_marked_on_their_event(exp, settings):
    settings.LAB_MAX_ATTEMPTS = 2
    run = _run_in(exp, "running")
    assert lifecycle.worker_lost(run, "worker lost (no heartbeat for 30 s)")
    run.refresh_from_db()
    assert run.state == "queued" and run.attempt_token is None
    lifecycle.set_state(run, "running", attempts=2, attempt_token=uuid.uuid4())
    assert lifecycle.worker_lost(run, "the node was drained")  # the marker, whatever the words
    lost = list(RunEvent.objects.filter(run=run, lost_attempt__isnull=False).values_list("lost_attempt", "message"))
    assert [n for n, _ in lost] == [1, 2] and "not started again" in lost[1][1]
    assert Run.objects.get(pk=run.pk).state == "failed"


@pytest.mark.django_db
def test_the_migration_marks_dead_attempts_recorded_before_it(exp):
    run = _run_in(exp, "queued")
    old = RunEvent.objects.create(run=run, kind="state",
                                  message="queued: worker lost (no heartbeat for 30 s) during attempt 2 of 3; "
                                          "queued again")
    other = RunEvent.objects.create(run=run, kind="state", message="running: started")
    migration = importlib.import_module("webapp.lab.migrations.0015_run_attempt_token_lost_attempt")
    migration.mark_lost_attempts(apps, None)
    assert RunEvent.objects.get(pk=old.pk).lost_attempt == 2
    assert RunEvent.objects.get(pk=other.pk).lost_attempt is None


@pytest.mark.django_db
def test_the_migration_rewrites_summaries_stored_in_the_old_shape(exp):
    """A run done before the engine reported what training chose keeps a readable summary:
    the old re-derived shape becomes the engine's, and the message schema accepts it."""
    from webapp.lab.progress_messages import StageSummary

    old = {"stage": "sft", "chosen_trial": 1, "lr": 1e-3, "epochs": 7, "best_epoch": 5, "best_dev_loss": 0.25,
           "trials": [{"trial": 0, "lr": 1e-4, "best_dev_loss": 0.5, "best_epoch": 0, "epochs": 3},
                      {"trial": 1, "lr": 1e-3, "best_dev_loss": 0.25, "best_epoch": 5, "epochs": 7}]}
    run = _run_in(exp, "queued")
    Run.objects.filter(pk=run.pk).update(training=[old])
    migration = importlib.import_module("webapp.lab.migrations.0016_training_summary_as_engine_returns")
    migration.forwards(apps, None)
    [new] = Run.objects.get(pk=run.pk).training
    StageSummary.model_validate(new)
    assert (new["trial"], new["lr"], new["epochs_run"], new["best_epoch"], new["improved"]) == (1, 1e-3, 7, 5, True)
    assert new["best_step"] is None  # never stored: unknown, not guessed
    assert [(t["trial"], t["epochs_run"], t["best_dev_loss"]) for t in new["trials"]] == [(0, 3, 0.5), (1, 7, 0.25)]
    migration.forwards(apps, None)  # the engine's shape is left as it is
    assert Run.objects.get(pk=run.pk).training == [new]
