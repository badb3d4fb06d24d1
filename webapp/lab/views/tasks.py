"""Task pages: list, create/edit/delete/copy, and the prompt preview's JSON."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ..experiment_form import visible_tasks
from ..forms import ExampleForm, HubImportForm, ImportFileForm, TaskForm
from ..models import Example, Task
from ..services.naming import copy_name
from ..services.presets import preset
from ..services.preview import PreviewError, preview


def get_task(request, pk, editable=False):
    task = get_object_or_404(visible_tasks(request.user), pk=pk)
    if editable and task.owner_id != request.user.id:
        raise Http404("Built-in tasks are read-only: make a copy to edit it.")
    return task


@login_required
def task_list(request):
    tasks = visible_tasks(request.user).annotate(
        n_pool=Count("examples", filter=Q(examples__split=Example.POOL)),
        n_eval=Count("examples", filter=Q(examples__split=Example.EVAL)),
    )
    return render(request, "lab/task_list.html", {
        "own": [t for t in tasks if t.owner_id],
        "builtin": [t for t in tasks if not t.owner_id and not t.needs_hub],
        "presets": [t for t in tasks if t.needs_hub],
    })


@login_required
def task_create(request):
    form = TaskForm(request.POST or None, owner=request.user)
    if request.method == "POST" and form.is_valid():
        task = form.save()
        messages.success(request, f'Task "{task.name}" created. Add examples below.')
        return redirect("task-detail", pk=task.pk)
    return render(request, "lab/task_form.html", {"form": form, "title": "New task"})


@login_required
def task_edit(request, pk):
    task = get_task(request, pk, editable=True)
    form = TaskForm(request.POST or None, instance=task, owner=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Task saved.")
        return redirect("task-detail", pk=task.pk)
    return render(request, "lab/task_form.html", {"form": form, "task": task, "title": f"Edit {task.name}"})


@login_required
@require_POST
def task_delete(request, pk):
    task = get_task(request, pk, editable=True)
    from ..models import Experiment

    if Experiment.objects.filter(train_task=task).exists():
        messages.error(request, "This task is the train task of an experiment; delete the experiment first.")
        return redirect("task-detail", pk=task.pk)
    task.delete()
    messages.success(request, f'Task "{task.name}" deleted.')
    return redirect("task-list")


@login_required
@require_POST
def task_copy(request, pk):
    src = get_task(request, pk)
    name = copy_name(src.name, lambda n: Task.objects.filter(owner=request.user, name=n).exists(),
                     Task._meta.get_field("name").max_length)
    with transaction.atomic():
        task = Task.objects.create(
            owner=request.user, name=name, description=src.description, input_template=src.input_template,
            kind=src.kind, labels=src.labels, answer_parser=src.answer_parser, needs_hub=False,
            hf_dataset=src.hf_dataset,
        )
        Example.objects.bulk_create(
            Example(task=task, position=e.position, split=e.split, input=e.input, output=e.output)
            for e in src.examples.all()
        )
    messages.success(request, f'Copied to "{name}"; this copy is yours to edit.')
    return redirect("task-detail", pk=task.pk)


@login_required
def task_detail(request, pk):
    task = get_task(request, pk)
    page, query = example_page(request, task)
    p = preset(task.name) if task.needs_hub else None
    hub_initial = {"dataset_id": task.hf_dataset, "split": "train"}
    if p:
        hub_initial.update(config=p["config"], input_column=p["input"], output_column=p["output"])
    return render(request, "lab/task_detail.html", {
        "task": task,
        "examples": page,
        "query": query,
        "n_examples": task.examples.count() if query else page.paginator.count,
        "n_pool": task.pool().count(),
        "example_form": ExampleForm(task=task),
        "import_form": ImportFileForm(),
        "hub_form": HubImportForm(initial=hub_initial),
    })


EXAMPLES_PER_PAGE = 100


def example_page(request, task):
    """One page of the task's examples (`?page=`, EXAMPLES_PER_PAGE rows), filtered by `?q=`
    (a case-insensitive substring of the input or the output): a 100,000-example task never
    renders at once. Each row keeps its number in the whole task."""
    query = request.GET.get("q", "").strip()[:200].replace("\x00", "")
    examples = task.examples.order_by("position", "id").only("id", "position", "split", "input", "output")
    if query:
        examples = examples.filter(Q(input__icontains=query) | Q(output__icontains=query))
    page = Paginator(examples, EXAMPLES_PER_PAGE).get_page(request.GET.get("page"))
    return page, query


@login_required
def task_preview_json(request, pk):
    """The prompt preview (services/preview.py: the engine's own prompt builder) for pool
    example `index` (1-based, as on the page) with `k` demonstrations and an optional
    unsaved `template`; 400 with the field and the fix for bad parameters."""
    task = get_task(request, pk)
    try:
        index, k = int(request.GET.get("index", "1")) - 1, int(request.GET.get("k", "0"))
    except ValueError:
        return JsonResponse({"field": "index", "error": "index and k must be whole numbers"}, status=400)
    try:
        return JsonResponse(preview(task, index, k, request.GET.get("template")))
    except PreviewError as exc:
        return JsonResponse({"field": exc.field, "error": exc.message}, status=400)
