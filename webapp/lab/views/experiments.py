"""Experiment pages: list, create (validate then launch), watch, cancel, retry."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.db.models import Count, Prefetch
from django.http import FileResponse, Http404, HttpResponseNotFound
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST

from webapp.teams import permissions
from webapp.teams.services import current_team, record

from .. import fragments
from ..experiment_form import ExperimentForm
from ..models import Experiment, Run, RunEvent
from ..services import cache, dispatch, exports, lifecycle, provenance, quotas
from ..services.adapters import NoAdapter, adapter_zip
from ..services.launch import already_submitted, launch


def get_experiment(request, pk, action="read"):
    """An experiment of one of the user's teams (404 otherwise), and allowed `action` (403)."""
    return permissions.get_experiment_or_404(request.user, pk, action)


def posted_tasks_or_404(data, team):
    """Task ids posted in the form (`data`: the POST QueryDict, or the API's body as one) must
    be tasks the experiment may use: anything else is 404, so that a guessed or foreign id
    tells nothing about what exists."""
    allowed = permissions.team_tasks(team)
    for key in ("train_task", "eval_tasks"):
        for value in data.getlist(key):
            if value and not (value.isdigit() and allowed.filter(pk=int(value)).exists()):
                raise Http404("No such task.")


@login_required
def experiment_list(request):
    # the stored engine config can be large: the list never needs it
    experiments = list(Experiment.objects.filter(team=current_team(request)).select_related("train_task", "owner")
                       .defer("config", "train_task__description", "train_task__input_template"))
    counts = {e.pk: {} for e in experiments}
    # every experiment's run counts per state in one grouped query (not one query per row)
    rows = (Run.objects.filter(experiment__in=experiments).order_by().values_list("experiment_id", "state")
            .annotate(c=Count("id")))
    for exp_id, state, c in rows:
        counts[exp_id][state] = c
    for e in experiments:
        e.counts = dict(sorted(counts[e.pk].items()))
    return render(request, "lab/experiment_list.html", {"experiments": experiments})


@login_required
def experiment_create(request):
    team = permissions.require(request.user, "launch", current_team(request))
    initial = {}
    if request.method == "GET":  # "copy to my team" (webapp/teams/views.py) prefills the form once
        initial = request.session.pop("experiment_prefill", None) or {}
    if request.GET.get("task"):
        initial["train_task"] = request.GET["task"]
    if request.GET.get("clone", "").isdigit():  # "run again with changes": the form filled in from an experiment
        source = permissions.readable_experiments(request.user).filter(pk=request.GET["clone"]).first()
        if source is not None:
            initial = clone_initial(source)
    if request.method == "POST":
        posted_tasks_or_404(request.POST, team)
        first = already_submitted(request.user, request.POST.get("submit_key", "")[:64])
        if first is not None:
            return _submitted_twice(request, first)
    form = ExperimentForm(request.POST or None, user=request.user, team=team, initial=initial)
    if request.method == "POST" and "estimate" in request.POST:  # validate and estimate; launch nothing
        context = {"form": form}
        if form.is_valid():
            context["estimate"] = form.estimate(dispatch.queue_for(form.cleaned_data["model_name"]))
        return render(request, "lab/experiment_form.html", context)
    if request.method == "POST" and form.is_valid():
        try:
            exp = launch(request.user, {**form.cleaned_data, "team": team, "warnings": form.warnings},
                         form.config, form.plan)
        except IntegrityError:  # the same form's other POST committed first
            first = already_submitted(request.user, form.cleaned_data.get("submit_key"))
            if first is None:
                raise
            return _submitted_twice(request, first)
        count = exp.runs.count()
        record(request.user, team, "launch", exp, runs=count)
        messages.success(request, f"Queued {count} run{pluralize(count)}.")
        return redirect("experiment-detail", pk=exp.pk)
    return render(request, "lab/experiment_form.html", {"form": form})


def clone_initial(exp):
    """Initial form values from an experiment's settings (its tasks as they are now)."""
    cfg = exp.config or {}
    return {
        "name": f"{exp.name or f'Experiment {exp.pk}'} (again)"[:200], "model_name": exp.model_name,
        "train_task": exp.train_task_id, "eval_tasks": list(exp.eval_tasks.values_list("pk", flat=True)),
        "methods": exp.methods, "n_values": ",".join(str(n) for n in exp.n_values), "seeds": exp.seeds,
        "icl_demos": exp.icl_demos, "eval_size": exp.eval_size, "similarity_size": cfg.get("similarity_size"),
        "adapter_type": exp.adapter_type, "lora_r": exp.lora_r, "lora_alpha": exp.lora_alpha,
        "target_modules": ",".join(exp.target_modules or []),
    }


def _submitted_twice(request, exp):
    messages.info(request, "This form was already submitted: here is the experiment it created.")
    return redirect("experiment-detail", pk=exp.pk)


RUN_ROW_FIELDS = ("id", "experiment_id", "method", "n", "seed", "state", "stage", "step", "total", "message",
                  "error", "overall_progress", "eta_seconds", "training", "attempts")
# the state events that record a dead attempt (lifecycle.worker_lost, lifecycle.claim)
LOST_ATTEMPTS = Prefetch("events", to_attr="lost_attempts", queryset=RunEvent.objects.filter(
    kind="state", message__contains="worker lost").only("run_id", "created_at", "message").order_by("id"))


RUNS_BASE_PLACEHOLDER = "@@runs-base@@"


def run_rows_html(request, exp, can_cancel=True, runs_base=None):
    """The rows of the runs table (webapp/lab/fragments.py), cached by the experiment's
    progress (services/cache.by_progress: a finished experiment's under its results version,
    a running one's also under its latest progress flush, never behind the database). The
    adapter link takes this page's runs URL (`runs_base`: a share link's own prefix, so that
    the token never enters the cache).
    Readers who cannot cancel get rows without cancel forms."""
    mode = "rw" if can_cancel else "ro"

    def render():
        return render_to_string("lab/_run_rows.html", {
            "experiment": exp, "runs": exp.runs.only(*RUN_ROW_FIELDS).prefetch_related(LOST_ATTEMPTS),
            "max_attempts": settings.LAB_MAX_ATTEMPTS, "csrf_input": fragments.CSRF_PLACEHOLDER,
            "can_cancel": can_cancel, "runs_base": RUNS_BASE_PLACEHOLDER})

    html, _ = cache.by_progress(exp, "run-rows", render, mode)
    return fragments.personalise(request, html, **{RUNS_BASE_PLACEHOLDER: runs_base or f"/experiments/{exp.pk}/runs/"})


@login_required
def experiment_detail(request, pk):
    """The experiment page: facts, the runs table (live over the websocket) and the compare
    section (filled from results.json). A fixed number of queries, whatever the run count."""
    exp = get_experiment(request, pk)
    from webapp.teams.views import experiment_team_context

    can_cancel = permissions.can(request.user, "cancel", exp)
    return render(request, "lab/experiment_detail.html", {
        "experiment": exp,
        "runs_html": run_rows_html(request, exp, can_cancel),
        "eval_tasks": exp.eval_tasks.only("name"),
        "can_cancel": can_cancel,
        "provenance": provenance.describe(exp),
        "export_kinds": list(exports.KINDS),
        "max_attempts": settings.LAB_MAX_ATTEMPTS,
        **experiment_team_context(request, exp),
    })


BROKER_DOWN_NOTE = ("The message broker (Redis) is unreachable right now: the cancel is stored, and a worker "
                    "skips the run when it picks it up.")


def cancel_run(run):
    return lifecycle.cancel_run(run, revoke=dispatch.revoke)


@login_required
@require_POST
def run_cancel(request, pk, run_id):
    exp = get_experiment(request, pk, "cancel")
    run = get_object_or_404(Run, pk=run_id, experiment=exp)
    changed, broker_ok = cancel_run(run)
    if changed:
        record(request.user, exp.team, "cancel", exp, run=run.pk, what=str(run))
        messages.info(request, f"Cancelling {run}.")
    else:
        messages.warning(request, f"{run} has already finished.")
    if not broker_ok:
        messages.warning(request, BROKER_DOWN_NOTE)
    return redirect("experiment-detail", pk=exp.pk)


@login_required
@require_POST
def experiment_cancel(request, pk):
    exp = get_experiment(request, pk, "cancel")
    outcomes = [cancel_run(r) for r in exp.runs.exclude(state__in=Run.FINAL_STATES)]
    if any(c for c, _ in outcomes):
        record(request.user, exp.team, "cancel", exp, runs=sum(c for c, _ in outcomes))
    messages.info(request, f"Cancelling {sum(c for c, _ in outcomes)} run(s).")
    if not all(ok for _, ok in outcomes):
        messages.warning(request, BROKER_DOWN_NOTE)
    return redirect("experiment-detail", pk=exp.pk)


@login_required
@require_POST
def run_retry(request, pk, run_id):
    """Queue a failed or cancelled run again (fresh attempt count, partial rows dropped)."""
    exp = get_experiment(request, pk, "cancel")  # who may cancel a run may retry it
    run = get_object_or_404(Run, pk=run_id, experiment=exp)
    try:
        quotas.ensure_room_for_runs(request.user, 1)
    except quotas.QuotaExceeded as exc:
        messages.error(request, str(exc))
        return redirect("experiment-detail", pk=exp.pk)
    if lifecycle.retry_run(run, send=dispatch.send_on_commit):
        messages.info(request, f"Queued {run} again.")
    else:
        messages.warning(request, f"{run} is {run.state}: only a failed or cancelled run can be retried.")
    return redirect("experiment-detail", pk=exp.pk)


@login_required
def run_adapter(request, pk, run_id):
    """The run's adapter files as a zip (404 with the reason when there is none)."""
    return adapter_response(get_experiment(request, pk), run_id)


def adapter_response(exp, run_id):
    """The zip download of a run of `exp` that the caller may read (pages and share links)."""
    run = get_object_or_404(Run, pk=run_id, experiment=exp)
    try:
        handle, name = adapter_zip(run)
    except NoAdapter as exc:
        return HttpResponseNotFound(str(exc), content_type="text/plain; charset=utf-8")
    return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")
