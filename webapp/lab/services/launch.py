"""Turn a checked plan (services/planning.validate_and_plan) into an Experiment + its Runs,
and queue them.

The broker is checked before anything is written (Redis down: 503, nothing stored). The
runs are written "to dispatch" in the same transaction as the experiment (the outbox,
`services/dispatch.py`) and sent once it commits; if this process dies or the broker goes
away between commit and send, the periodic sweep sends what is left.

The queued-runs quota is checked again in that transaction, under a lock on the user's row
(`quotas.lock_user`), so concurrent launches cannot each see the same room; the launch's
audit event is written in it too, so a committed launch always has its audit line.
"""
import re

from django.db import transaction

from webapp.teams import permissions
from webapp.teams.services import record

from ..experiment_spec import model_columns
from ..models import Experiment, Run
from . import dispatch, quotas, snapshots

SUBMIT_KEY = re.compile(r"[0-9a-f]{32}")


def submit_key_problem(submit_key):
    """The message for a malformed idempotency key, or None. The form makes the key when it
    is rendered (an API client, e.g. uuid4().hex); empty means "no key"."""
    if submit_key and not SUBMIT_KEY.fullmatch(submit_key):
        return "This form is out of date: reload the page and submit it again."
    return None


class KeyAlreadyUsed(ValueError):
    """The idempotency key created an experiment its user may no longer read (e.g. they left
    its team): it is neither shown nor used again, and nothing about it is said."""

    def __init__(self):
        super().__init__("This submit_key was already used; send the request with a new key "
                         "(e.g. uuid4().hex), or reload the form.")


def already_submitted(user, submit_key):
    """The experiment a form with this idempotency key already created, or None; KeyAlreadyUsed
    when the user may no longer read it (permissions.can), so a replayed key never reveals an
    experiment of a team they left."""
    if not submit_key:
        return None
    exp = Experiment.objects.filter(owner=user, submit_key=submit_key).select_related("team").first()
    if exp is not None and not permissions.can(user, "read", exp):
        raise KeyAlreadyUsed()
    return exp


def launch(user, team, plan):
    """Create the experiment of a checked `plan` (its spec's settings, its confirmed warnings,
    its idempotency key) and one run per planned engine RunKey, and queue them in one go.
    Each run stores its key, which the worker hands back to the engine. Raises
    quotas.QuotaExceeded (nothing written) when the user's queued runs left no room."""
    spec = plan.spec
    queue = dispatch.queue_for(spec.model_name)
    dispatch.check_broker()
    with transaction.atomic():
        quotas.lock_user(user)  # held to commit: the next launch of this user counts our runs
        quotas.ensure_room_for_runs(user, len(plan.runs))
        exp = Experiment.objects.create(
            owner=user, team=team, **model_columns(spec),
            config=snapshots.by_reference(plan.config),  # the pools stored once, by hash
            submit_key=plan.submit_key or "", warnings=list(plan.warnings),
        )
        exp.eval_tasks.set(spec.eval_tasks or [spec.train_task])
        runs = Run.objects.bulk_create(Run.for_key(exp, key, queue=queue) for key in plan.runs)
        if any(r.id is None for r in runs):
            runs = list(exp.runs.all())
        record(user, team, "launch", exp, runs=len(runs))
        dispatch.send_on_commit(r.id for r in runs)
    return exp
