"""Reads of the lab app: the objects and lists that pages, share links and the REST API show.

Writes live in services/; access rules in webapp/teams/permissions.py, which every lookup
here goes through (an object outside the user's teams is 404, a role that may not act is
403). Views and API routers call these instead of querying, so that a page and the API
read the same rows the same way.
"""
from django.db.models import Count, F, Prefetch, Q
from django.shortcuts import get_object_or_404

from webapp.teams import permissions

from .models import Example, Experiment, Run, RunEvent


# --- one object, with its access check ------------------------------------------------

def get_experiment(user, pk, action="read"):
    """An experiment of one of the user's teams (404 otherwise), and allowed `action` (403)."""
    return permissions.get_experiment_or_404(user, pk, action)


def get_task(user, pk, action="read"):
    """A task the user can read (404 otherwise), and allowed `action` ("edit", "delete":
    403 for a role that may not, 404 for a built-in task, read-only for everyone)."""
    return permissions.get_task_or_404(user, pk, action)


# --- experiments and their runs -------------------------------------------------------

def team_experiments(team):
    """The team's experiments for the list page, each with `counts` ({state: runs}, sorted):
    without the stored engine config (it can be large), and every experiment's run counts
    in one grouped query rather than one per row."""
    experiments = list(Experiment.objects.filter(team=team).select_related("train_task", "owner")
                       .defer("config", "train_task__description", "train_task__input_template"))
    counts = {e.pk: {} for e in experiments}
    rows = (Run.objects.filter(experiment__in=experiments).order_by().values_list("experiment_id", "state")
            .annotate(c=Count("id")))
    for exp_id, state, c in rows:
        counts[exp_id][state] = c
    for e in experiments:
        e.counts = dict(sorted(counts[e.pk].items()))
    return experiments


RUN_ROW_FIELDS = ("id", "experiment_id", "method", "n", "seed", "state", "stage", "step", "total", "message",
                  "error", "overall_progress", "eta_seconds", "training", "attempts")
# the state events that record a dead attempt (lifecycle.worker_lost, lifecycle.claim)
LOST_ATTEMPTS = Prefetch("events", to_attr="lost_attempts", queryset=RunEvent.objects.filter(
    lost_attempt__isnull=False).only("run_id", "created_at", "message").order_by("id"))


def run_or_404(exp, run_id):
    """A run of `exp` (404 for another experiment's run: access was checked on `exp`)."""
    return get_object_or_404(Run, pk=run_id, experiment=exp)


def run_rows(exp):
    """The runs the runs table shows: only the columns it reads, with their dead attempts
    (`run.lost_attempts`) prefetched, so the table costs two queries whatever its length."""
    return exp.runs.only(*RUN_ROW_FIELDS).with_flags().prefetch_related(LOST_ATTEMPTS)


def eval_task_names(exp):
    return exp.eval_tasks.only("name")


# --- tasks and their examples ----------------------------------------------------------

def team_tasks(team):
    """The tasks the task list shows for `team`: its own and the built-ins, without their
    templates (the list never shows them)."""
    return permissions.team_tasks(team).defer("input_template")


def readable_tasks(user, team=None, builtin=None):
    """Tasks the user can read, optionally of one team (`team`: its id) or only the
    built-ins (`builtin=True`) or only team tasks (`builtin=False`), in the API's order."""
    qs = permissions.readable_tasks(user)
    if team is not None:
        qs = qs.filter(team_id=team)
    if builtin is not None:
        qs = qs.filter(team__isnull=builtin)
    return qs.order_by("builtin", "name", "id")


def example_or_404(task, example_id):
    """An example of `task` (404 for another task's example: access was checked on `task`)."""
    return get_object_or_404(Example, pk=example_id, task=task)


def task_examples(task, query="", split=None):
    """The task's examples in the page's order (position, then id), those containing `query`
    (case-insensitive, in the input or the output) when given, of one split when given.

    The order has its index (task, position, id; migration 0011) and the search trigram
    indexes on Postgres. A search sorts what it finds (`position + 0` cannot be read off the
    order index): otherwise Postgres may walk the task's examples in order until a page of
    matches turns up, which for a rare word in 100,000 examples took 90 ms instead of 1 ms,
    whenever its statistics guessed the word common (a word in nearly every example now
    costs a sort: 44 ms for 100,000)."""
    # task_id too: the related manager reads it on every row (deferred, it costs a query per row)
    examples = task.examples.only("id", "task_id", "position", "split", "input", "output")
    if split:
        examples = examples.filter(split=split)
    if not query:
        return examples.order_by("position", "id")
    return (examples.filter(Q(input__icontains=query) | Q(output__icontains=query))
            .order_by(F("position") + 0, "id"))
