"""Limits a shared server keeps, each with a message that says what to do."""
from django.conf import settings
from django.contrib.auth import get_user_model

from ..models import Run


class QuotaExceeded(ValueError):
    """A write would pass a configured limit; nothing was written."""


def ensure_room_for_examples(task, adding, replacing=0):
    """Refuse a write that would leave `task` with more than LAB_MAX_EXAMPLES_PER_TASK examples."""
    limit = settings.LAB_MAX_EXAMPLES_PER_TASK
    total = task.examples.count() - replacing + adding
    if total > limit:
        raise QuotaExceeded(f"A task holds at most {limit:,} examples; this would make {total:,}. "
                            "Import fewer rows, replace the existing ones, or split the task.")


def ensure_runs_per_experiment(plan):
    """Refuse an experiment that plans more than LAB_MAX_RUNS_PER_EXPERIMENT runs."""
    limit = settings.LAB_MAX_RUNS_PER_EXPERIMENT
    if len(plan) > limit:
        methods = len({k.method for k in plan})
        ns = len({k.n for k in plan})
        seeds = len({k.seed for k in plan})
        raise QuotaExceeded(f"This makes {len(plan):,} runs ({methods} methods x {ns} N values x {seeds} seeds); an "
                            f"experiment holds at most {limit:,} runs (LAB_MAX_RUNS_PER_EXPERIMENT). Use fewer "
                            "N values, seeds or methods, or split it into several experiments.")


def lock_user(user):
    """Lock `user`'s row until the surrounding transaction ends, so that a check of their
    quota and the rows it allows are one step for concurrent requests (call it inside
    transaction.atomic, before the check)."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()


def queued_runs(user):
    """Runs of `user`'s experiments waiting for or holding a worker."""
    return Run.objects.filter(experiment__owner=user, state__in=Run.UNFINISHED_STATES).count()


def ensure_room_for_runs(user, adding):
    """Refuse queueing `adding` runs when `user` would have more than
    LAB_MAX_QUEUED_RUNS_PER_USER runs queued or running."""
    limit = settings.LAB_MAX_QUEUED_RUNS_PER_USER
    waiting = queued_runs(user)
    if waiting + adding > limit:
        raise QuotaExceeded(f"You may have at most {limit:,} runs queued or running; you have {waiting:,} and this "
                            f"adds {adding:,}. Wait for some to finish or cancel them (LAB_MAX_QUEUED_RUNS_PER_USER).")
