"""The user's actions on runs, written once for the pages and the REST API: cancel one run,
cancel every unfinished run of an experiment, retry one run.

Each does the state change (`services.lifecycle`, which decides from `Run.TRANSITIONS`
what may move), hands the executor its part (`services.dispatch`: revoke a queued job, send
a retried one), writes the audit record, and says what happened in the words the user reads:
a page shows `message` (and BROKER_DOWN_NOTE apart), the API answers `detail`. The caller
has checked the permission (cancel; who may cancel a run may retry it)."""
from dataclasses import dataclass

from django.db import transaction

from webapp.teams.services import record

from ..models import Run
from . import dispatch, lifecycle, quotas

BROKER_DOWN_NOTE = ("The message broker (Redis) is unreachable right now: the cancel is stored, and a worker "
                    "skips the run when it picks it up.")


@dataclass
class Outcome:
    """What an action did: `changed` runs (a count; 0 or 1 for one run), whether the broker
    was reached, the message and its level ("info" or "warning"), and the run's state after."""

    changed: int
    message: str
    level: str = "info"
    broker_ok: bool = True
    state: str = ""

    @property
    def detail(self):
        """The message with the broker note when the broker was not reached (the API's text)."""
        return self.message + ("" if self.broker_ok else " " + BROKER_DOWN_NOTE)


class Refused(Exception):
    """The action cannot be done; the message says why (the pages show it at `level`, the API
    answers 409)."""

    def __init__(self, message, level="warning"):
        super().__init__(message)
        self.level = level


def cancel(actor, exp, run):
    """Cancel one run of `exp`: a queued one now, a running one at its next step."""
    changed, broker_ok = lifecycle.cancel_run(run, revoke=dispatch.revoke)
    if changed:
        record(actor, exp.team, "cancel", exp, run=run.pk, what=str(run))
    run.refresh_from_db(fields=["state"])
    if changed:
        return Outcome(1, f"Cancelling {run}.", broker_ok=broker_ok, state=run.state)
    return Outcome(0, f"{run} has already finished.", level="warning", broker_ok=broker_ok, state=run.state)


def cancel_unfinished(exp):
    """Cancel every run of `exp` that can be cancelled; (runs asked to stop, broker reached).
    No audit record: `cancel_all` is the user's action, this is also a step of a delete."""
    outcomes = [lifecycle.cancel_run(r, revoke=dispatch.revoke)
                for r in exp.runs.filter(state__in=Run.CANCELLABLE_STATES)]
    return sum(changed for changed, _ in outcomes), all(ok for _, ok in outcomes)


def cancel_all(actor, exp):
    """The "cancel all" of an experiment."""
    cancelling, broker_ok = cancel_unfinished(exp)
    if cancelling:
        record(actor, exp.team, "cancel", exp, runs=cancelling)
    return Outcome(cancelling, f"Cancelling {cancelling} run(s).", broker_ok=broker_ok)


def retry(actor, run):
    """Queue a failed or cancelled run again (fresh attempt count, partial rows dropped), within
    the actor's quota of unfinished runs; Refused with the reason otherwise."""
    with transaction.atomic():  # the quota check and the requeue are one step for concurrent requests
        quotas.lock_user(actor)
        try:
            quotas.ensure_room_for_runs(actor, 1)
        except quotas.QuotaExceeded as exc:
            raise Refused(str(exc), level="error") from None
        retried = lifecycle.retry_run(run, send=dispatch.send_on_commit)
    if not retried:
        retryable = " or ".join(Run.RETRYABLE_STATES)
        raise Refused(f"{run} is {run.state}: only a {retryable} run can be retried.")
    run.refresh_from_db(fields=["state"])
    return Outcome(1, f"Queued {run} again.", state=run.state)
