"""Example editing (one by one) and bulk imports (CSV/JSONL files, Hugging Face hub)."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.teams import permissions

from .. import selectors
from ..forms import ExampleForm, HubImportForm, ImportFileForm, describe_errors
from ..models import Example
from ..services.hub import HubUnavailable, fetch_examples
from ..services.presets import PresetUnavailable, import_preset, preset_for
from ..services.importers import ImportProblem, parse_upload
from ..services.examples import check_labels, next_position, save_rows
from ..services.quotas import QuotaExceeded, ensure_room_for_examples


@login_required
@require_POST
def example_add(request, pk):
    task = selectors.get_task(request.user, pk, "edit")
    form = ExampleForm(request.POST, task=task)
    try:
        ensure_room_for_examples(task, 1)
    except QuotaExceeded as exc:
        messages.error(request, f"Example not added — {exc}")
        return redirect("task-detail", pk=task.pk)
    if form.is_valid():
        ex = form.save(commit=False)
        ex.task, ex.position = task, next_position(task)
        ex.save()
        messages.success(request, "Example added.")
    else:
        messages.error(request, f"Example not added — {describe_errors(form)}")
    return redirect("task-detail", pk=task.pk)


@login_required
def example_edit(request, pk, ex_id):
    task = selectors.get_task(request.user, pk, "edit")
    example = selectors.example_or_404(task, ex_id)
    form = ExampleForm(request.POST or None, instance=example, task=task)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Example saved.")
        return redirect("task-detail", pk=task.pk)
    return render(request, "lab/example_form.html", {"form": form, "task": task, "example": example})


@login_required
@require_POST
def example_delete(request, pk, ex_id):
    task = selectors.get_task(request.user, pk, "edit")
    selectors.example_or_404(task, ex_id).delete()
    messages.success(request, "Example deleted.")
    return redirect("task-detail", pk=task.pk)


@login_required
@require_POST
def import_file(request, pk):
    task = selectors.get_task(request.user, pk, "edit")
    form = ImportFileForm(request.POST, request.FILES)
    refused = getattr(request, "upload_refused", None)
    if refused:
        messages.error(request, f"Nothing was imported: {refused}")
        return redirect("task-detail", pk=task.pk)
    if not form.is_valid():
        messages.error(request, f"Nothing was imported: {describe_errors(form)}. Choose a .csv or .jsonl file "
                                "to upload and a split.")
        return redirect("task-detail", pk=task.pk)
    upload = form.cleaned_data["file"]
    try:
        rows = parse_upload(upload.name, upload.read())
        check_labels(task, rows)
        save_rows(task, rows, form.cleaned_data["split"], form.cleaned_data["replace"])
    except (ImportProblem, QuotaExceeded) as exc:
        messages.error(request, f"Nothing was imported from {upload.name}: {exc}")
        return redirect("task-detail", pk=task.pk)
    messages.success(request, f"Imported {len(rows)} examples from {upload.name}.")
    return redirect("task-detail", pk=task.pk)


@login_required
@require_POST
def import_hub(request, pk):
    task = selectors.get_task(request.user, pk)
    if task.team_id is None:  # shared presets are read-only like every built-in task
        messages.error(request, "Built-in tasks are read-only: make a copy to import into it.")
        return redirect("task-detail", pk=task.pk)
    permissions.require(request.user, "edit", task)
    if request.POST.get("preset"):
        return _import_preset(request, task)
    form = HubImportForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nothing was imported: {describe_errors(form)}. Fill in the dataset id, split, "
                                "columns and a limit from 1 to 5000.")
        return redirect("task-detail", pk=task.pk)
    d = form.cleaned_data
    try:
        rows = fetch_examples(d["dataset_id"], d["config"], d["split"], d["input_column"], d["output_column"],
                              d["limit"])
        check_labels(task, rows)
        save_rows(task, rows, Example.POOL, replace=True)
    except (HubUnavailable, ImportProblem, QuotaExceeded) as exc:
        messages.error(request, str(exc))
        return redirect("task-detail", pk=task.pk)
    messages.success(request, f"Imported {len(rows)} examples from {d['dataset_id']}.")
    return redirect("task-detail", pk=task.pk)


def _import_preset(request, task):
    """The task's benchmark preset through the engine's loader (label maps, filters, evaluation
    set and pool); all or nothing."""
    p = preset_for(task)
    if p is None or p["name"] != request.POST["preset"]:
        messages.error(request, f'"{task.name}" is not the preset {request.POST["preset"]}: nothing was imported.')
        return redirect("task-detail", pk=task.pk)
    try:
        n_pool, n_eval = import_preset(task, p)
    except (PresetUnavailable, QuotaExceeded) as exc:
        messages.error(request, str(exc))
        return redirect("task-detail", pk=task.pk)
    messages.success(request, f"Loaded preset {p['name']} from {p['hf']}: {n_pool} pool and {n_eval} evaluation "
                              "examples.")
    return redirect("task-detail", pk=task.pk)
