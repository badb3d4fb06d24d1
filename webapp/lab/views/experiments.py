"""Experiment pages: list, create (validate then launch), watch, cancel, retry."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST

from webapp.teams import permissions
from webapp.teams import selectors as team_selectors
from webapp.teams.forms import ShareLinkForm
from webapp.teams.services import PREFILL_KEY, current_team

from .. import selectors
from ..experiment_form import ExperimentForm
from ..experiment_spec import ExperimentSpec, derived
from ..models import Run
from ..responses import adapter_response
from ..run_rows import run_rows_html
from ..services import dispatch, exports, planning, provenance, quotas, run_actions
from ..services.launch import KeyAlreadyUsed, already_submitted, launch


def get_experiment(request, pk, action="read"):
    """The request's user's experiment (selectors.get_experiment: 404 outside their teams,
    403 for an `action` their role may not do)."""
    return selectors.get_experiment(request.user, pk, action)


@login_required
def experiment_list(request):
    return render(request, "lab/experiment_list.html",
                  {"experiments": selectors.team_experiments(current_team(request))})


@login_required
def experiment_create(request):
    """The experiment form: shown (prefilled by copy-to-team, run-again or a task), validated
    and estimated, or validated and launched (services/planning, services/launch)."""
    team = permissions.require(request.user, "launch", current_team(request))
    if request.method != "POST":
        form = ExperimentForm(user=request.user, team=team, initial=_prefill(request))
        return render(request, "lab/experiment_form.html", {"form": form, "task": _asked_task(request)})
    planning.posted_tasks_or_404(request.POST.getlist("train_task") + request.POST.getlist("eval_tasks"), team)
    try:
        return _validate_or_launch(request, team)
    except KeyAlreadyUsed as exc:  # the key's experiment is no longer readable: say nothing of it
        messages.error(request, str(exc))
        return redirect("experiment-create")


def _validate_or_launch(request, team):
    """The POSTed form: its earlier experiment (same idempotency key), its estimate, its
    errors, or a launch."""
    first = already_submitted(request.user, request.POST.get("submit_key", "")[:64])
    if first is not None:
        return _submitted_twice(request, first)
    form = ExperimentForm(request.POST, user=request.user, team=team)
    if "estimate" in request.POST:  # validate and estimate; launch nothing
        context = {"form": form}
        if form.is_valid():
            context["estimate"] = planning.estimate(form.plan, dispatch.queue_for(form.spec.model_name))
        return render(request, "lab/experiment_form.html", context)
    if not form.is_valid():
        return render(request, "lab/experiment_form.html", {"form": form})
    try:
        exp = launch(request.user, team, form.plan)
    except quotas.QuotaExceeded as exc:  # a concurrent launch took the room after the form was checked
        form.add_error(None, str(exc))
        return render(request, "lab/experiment_form.html", {"form": form})
    except IntegrityError:  # the same form's other POST committed first
        first = already_submitted(request.user, form.plan.submit_key)
        if first is None:
            raise
        return _submitted_twice(request, first)
    count = exp.runs.count()
    messages.success(request, f"Queued {count} run{pluralize(count)}.")
    return redirect("experiment-detail", pk=exp.pk)


def _prefill(request):
    """The form's initial values: "copy to a team" (webapp/teams, once, from the session),
    a task (?task=), or "run again with changes" (?clone=: an experiment's spec, its tasks as
    they are now)."""
    initial = {}
    copied = request.session.pop(PREFILL_KEY, None)
    if copied:
        initial = ExperimentForm.initial_of(ExperimentSpec.model_construct(**copied))  # spec_of, as stored
    if request.GET.get("task"):
        initial["train_task"] = request.GET["task"]
    if request.GET.get("clone", "").isdigit():
        source = permissions.readable_experiments(request.user).filter(pk=request.GET["clone"]).first()
        if source is not None:
            initial = ExperimentForm.initial_of(derived(source, "again"))
    return initial


def _asked_task(request):
    """The readable task of ?task=: when it is in another team than the header's, the page
    says so and offers the switch (templates/teams/_other_team.html) instead of a blank choice."""
    pk = request.GET.get("task", "")
    return permissions.readable_tasks(request.user).select_related("team").filter(pk=pk).first() if pk.isdigit() else None


def _submitted_twice(request, exp):
    messages.info(request, "This form was already submitted: here is the experiment it created.")
    return redirect("experiment-detail", pk=exp.pk)


@login_required
def experiment_detail(request, pk):
    """The experiment page: facts, the runs table (live over the websocket) and the compare
    section (filled from results.json). A fixed number of queries, whatever the run count."""
    exp = get_experiment(request, pk)
    can_cancel = permissions.can(request.user, "cancel", exp)
    sharing = team_selectors.experiment_sharing(request.user, exp)
    return render(request, "lab/experiment_detail.html", {
        "experiment": exp,
        "runs_html": run_rows_html(request, exp, can_cancel),
        "eval_tasks": selectors.eval_task_names(exp),
        "can_cancel": can_cancel,
        "provenance": provenance.describe(exp),
        "export_kinds": list(exports.KINDS),
        "max_attempts": settings.LAB_MAX_ATTEMPTS,
        "share_form": ShareLinkForm() if sharing["can_share"] else None,
        **sharing,
    })


def _show(request, outcome):
    """A run action's outcome as the page's messages (services/run_actions has the words)."""
    messages.add_message(request, messages.WARNING if outcome.level == "warning" else messages.INFO,
                         outcome.message)
    if not outcome.broker_ok:
        messages.warning(request, run_actions.BROKER_DOWN_NOTE)


@login_required
@require_POST
def run_cancel(request, pk, run_id):
    exp = get_experiment(request, pk, "cancel")
    run = get_object_or_404(Run, pk=run_id, experiment=exp)
    _show(request, run_actions.cancel(request.user, exp, run))
    return redirect("experiment-detail", pk=exp.pk)


@login_required
@require_POST
def experiment_cancel(request, pk):
    exp = get_experiment(request, pk, "cancel")
    _show(request, run_actions.cancel_all(request.user, exp))
    return redirect("experiment-detail", pk=exp.pk)


@login_required
@require_POST
def run_retry(request, pk, run_id):
    """Queue a failed or cancelled run again (fresh attempt count, partial rows dropped)."""
    exp = get_experiment(request, pk, "cancel")  # who may cancel a run may retry it
    run = get_object_or_404(Run, pk=run_id, experiment=exp)
    try:
        _show(request, run_actions.retry(request.user, run))
    except run_actions.Refused as exc:
        messages.add_message(request, messages.ERROR if exc.level == "error" else messages.WARNING, str(exc))
    return redirect("experiment-detail", pk=exp.pk)


@login_required
def run_adapter(request, pk, run_id):
    """The run's adapter files as a zip (404 with the reason when there is none)."""
    return adapter_response(get_experiment(request, pk), run_id)
