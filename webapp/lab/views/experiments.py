"""Experiment pages: list, create (validate then launch), watch, cancel."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ..experiment_form import ExperimentForm
from ..models import Experiment, Run
from ..services import dispatch
from ..services.events import note, set_state
from ..services.launch import launch
from ..services.reaper import reap_stale_runs


def get_experiment(request, pk):
    return get_object_or_404(Experiment.objects.select_related("train_task"), pk=pk, owner=request.user)


@login_required
def experiment_list(request):
    experiments = Experiment.objects.filter(owner=request.user).select_related("train_task")
    return render(request, "lab/experiment_list.html", {"experiments": experiments})


@login_required
def experiment_create(request):
    initial = {}
    if request.GET.get("task"):
        initial["train_task"] = request.GET["task"]
    form = ExperimentForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        exp = launch(request.user, form.cleaned_data, form.config, form.plan)
        messages.success(request, f"Queued {exp.runs.count()} runs.")
        return redirect("experiment-detail", pk=exp.pk)
    return render(request, "lab/experiment_form.html", {"form": form})


@login_required
def experiment_detail(request, pk):
    exp = get_experiment(request, pk)
    reap_stale_runs()
    return render(request, "lab/experiment_detail.html", {
        "experiment": exp,
        "runs": exp.runs.all(),
        "eval_tasks": exp.eval_tasks.all(),
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
