"""Experiment pages: list, create (validate then launch), watch, cancel."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from ..experiment_form import ExperimentForm
from ..models import Experiment, Run
from ..services import cache, dispatch
from ..services import provenance
from ..services.events import note, set_state
from ..services.launch import launch
from ..services.reaper import reap_stale_runs


def get_experiment(request, pk):
    return get_object_or_404(Experiment.objects.select_related("train_task"), pk=pk, owner=request.user)


@login_required
def experiment_list(request):
    experiments = list(Experiment.objects.filter(owner=request.user).select_related("train_task"))
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
    initial = {}
    if request.GET.get("task"):
        initial["train_task"] = request.GET["task"]
    if request.GET.get("clone", "").isdigit():  # "run again with changes": the form filled in from an experiment
        source = Experiment.objects.filter(pk=request.GET["clone"], owner=request.user).first()
        if source is not None:
            initial = clone_initial(source)
    form = ExperimentForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        exp = launch(request.user, form.cleaned_data, form.config, form.plan)
        count = exp.runs.count()
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


RUN_ROW_FIELDS = ("id", "experiment_id", "method", "n", "seed", "state", "stage", "step", "total", "message",
                  "error", "overall_progress", "eta_seconds", "training")


CSRF_PLACEHOLDER = "@@csrf-input@@"


def run_rows_html(request, exp):
    """The rows of the runs table. Rendering 100 rows is most of the page's cost, so a
    finished experiment's rows are cached (key: its results version, bumped by every run
    state change) with a placeholder where each row's cancel form takes this request's
    CSRF token."""
    key = exp.cache_key("run-rows")
    html = cache.get(key)  # only ever stored for a finished experiment, at this results version
    if not isinstance(html, str):
        finished = not exp.runs.exclude(state__in=Run.FINAL_STATES).exists()
        html = render_to_string("lab/_run_rows.html", {
            "experiment": exp, "runs": exp.runs.only(*RUN_ROW_FIELDS), "csrf_input": CSRF_PLACEHOLDER})
        if finished:
            cache.put(key, html)
    token = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))
    return mark_safe(html.replace(CSRF_PLACEHOLDER, token))


@login_required
def experiment_detail(request, pk):
    """The experiment page: facts, the runs table (live over the websocket) and the compare
    section (filled from results.json). A fixed number of queries, whatever the run count."""
    exp = get_experiment(request, pk)
    reap_stale_runs()  # one indexed query; the periodic reaper does the same in the background
    return render(request, "lab/experiment_detail.html", {
        "experiment": exp,
        "runs_html": run_rows_html(request, exp),
        "provenance": provenance.describe(exp),
    })


BROKER_DOWN_NOTE = ("The message broker (Redis) is unreachable right now: the cancel is stored, and a worker "
                    "skips the run when it picks it up.")


def cancel_run(run):
    """Flag the run; a queued one is cancelled now (and revoked), a running one stops at its next step.
    Returns (changed, broker_reached)."""
    if run.state in Run.FINAL_STATES:
        return False, True
    Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    run.cancel_requested = True
    broker_ok = True
    if run.state == Run.QUEUED:
        updated = Run.objects.filter(pk=run.pk, state=Run.QUEUED).update(state=Run.CANCELLED)
        if updated:
            set_state(run, Run.CANCELLED, message="cancelled before it started")
            broker_ok = dispatch.revoke(run) is not False
    else:
        note(run, "cancel requested")
    return True, broker_ok


@login_required
@require_POST
def run_cancel(request, pk, run_id):
    exp = get_experiment(request, pk)
    run = get_object_or_404(Run, pk=run_id, experiment=exp)
    changed, broker_ok = cancel_run(run)
    if changed:
        messages.info(request, f"Cancelling {run}.")
    else:
        messages.warning(request, f"{run} has already finished.")
    if not broker_ok:
        messages.warning(request, BROKER_DOWN_NOTE)
    return redirect("experiment-detail", pk=exp.pk)


@login_required
@require_POST
def experiment_cancel(request, pk):
    exp = get_experiment(request, pk)
    outcomes = [cancel_run(r) for r in exp.runs.exclude(state__in=Run.FINAL_STATES)]
    messages.info(request, f"Cancelling {sum(c for c, _ in outcomes)} run(s).")
    if not all(ok for _, ok in outcomes):
        messages.warning(request, BROKER_DOWN_NOTE)
    return redirect("experiment-detail", pk=exp.pk)
