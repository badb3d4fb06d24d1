"""Task pages: list, create/edit/delete/copy, and the prompt preview's JSON."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.teams import permissions
from workers.engine.local_models import local_models
from webapp.teams.services import TeamError, copy_task, current_team, delete_task, record

from ..forms import ExampleForm, HubImportForm, ImportFileForm, TaskForm
from ..models import Example
from ..services.presets import preset_for
from ..services.preview import PreviewError, preview
from ..services.readability import task_readability


def get_task(request, pk, editable=False):
    """A task the user can read (404 otherwise); `editable`: and may edit (403 for a viewer)."""
    task = permissions.get_task_or_404(request.user, pk)
    if editable and task.team_id is None:
        raise Http404("Built-in tasks are read-only: make a copy to edit it.")
    return permissions.require(request.user, "edit", task) if editable else task


@login_required
def task_list(request):
    tasks = list(permissions.team_tasks(current_team(request)).defer("input_template"))
    # the pool and eval counts of every task in one grouped query over the examples' index
    # (not a join of every example with its task: a 100,000-example task stays cheap)
    counts = {}
    for task_id, split, c in (Example.objects.filter(task__in=[t.pk for t in tasks]).order_by()
                              .values_list("task_id", "split").annotate(c=Count("id"))):
        counts[task_id, split] = c
    for t in tasks:
        t.n_pool, t.n_eval = counts.get((t.pk, Example.POOL), 0), counts.get((t.pk, Example.EVAL), 0)
    return render(request, "lab/task_list.html", {
        "own": [t for t in tasks if t.team_id],
        "builtin": [t for t in tasks if not t.team_id and not t.needs_hub],
        "presets": [t for t in tasks if not t.team_id and t.needs_hub],
    })


@login_required
def task_create(request):
    team = permissions.require(request.user, "create", current_team(request))
    form = TaskForm(request.POST or None, owner=request.user, team=team, model=request.GET.get("model"))
    if request.method == "POST" and form.is_valid():
        task = form.save()
        record(request.user, team, "create", task)
        messages.success(request, f'Task "{task.name}" created. Add examples below.')
        return redirect("task-detail", pk=task.pk)
    return render(request, "lab/task_form.html", {"form": form, "title": "New task"})


@login_required
def task_edit(request, pk):
    task = get_task(request, pk, editable=True)
    form = TaskForm(request.POST or None, instance=task, owner=request.user, team=task.team)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Task saved.")
        return redirect("task-detail", pk=task.pk)
    return render(request, "lab/task_form.html", {"form": form, "task": task, "title": f"Edit {task.name}"})


@login_required
@require_POST
def task_delete(request, pk):
    task = get_task(request, pk)
    if task.team_id is None:
        raise Http404("Built-in tasks are read-only.")
    permissions.require(request.user, "delete", task)
    try:
        delete_task(request.user, task)
    except TeamError as exc:
        messages.error(request, str(exc))
        return redirect("task-detail", pk=task.pk)
    messages.success(request, f'Task "{task.name}" deleted.')
    return redirect("task-list")


@login_required
@require_POST
def task_copy(request, pk):
    """Fork into a team the user may create in: the posted `team`, else the current team
    when the user may create there, else their personal space."""
    src = get_task(request, pk)
    if request.POST.get("team"):
        team = permissions.get_team_or_404(request.user, request.POST["team"], "copy_into")
    else:
        team = current_team(request)
        if not permissions.can(request.user, "copy_into", team):
            from webapp.teams.services import personal_team

            team = personal_team(request.user)
    task = copy_task(request.user, src, team)
    messages.success(request, f'Copied to "{task.name}" in {team}; this copy is editable.')
    return redirect("task-detail", pk=task.pk)


@login_required
def task_detail(request, pk):
    task = get_task(request, pk)
    page, query = example_page(request, task)
    p = preset_for(task)
    hub_initial = {"dataset_id": task.hf_dataset, "split": "train"}
    if p:
        hub_initial.update(config=p["config"] or "", input_column=p["input"], output_column=p["output"],
                           split=p["train_split"] or p["eval_split"])
    user = request.user
    counts = page.paginator.task_counts
    return render(request, "lab/task_detail.html", {
        "task": task,
        "can_edit": task.team_id is not None and permissions.can(user, "edit", task),
        "can_delete": task.team_id is not None and permissions.can(user, "delete", task),
        "can_launch": permissions.can(user, "launch", current_team(request)),
        "copy_teams": permissions.editable_teams(user),
        "move_teams": [t for t in permissions.editable_teams(user) if permissions.can_move(user, task, t)],
        "examples": page,
        "query": query,
        "n_examples": counts["total"],
        "n_pool": counts["pool"],
        "example_form": ExampleForm(task=task),
        "import_form": ImportFileForm(),
        "hub_form": HubImportForm(initial=hub_initial),
        "preset": p,
        "local_models": local_models(),
        "preview_model": request.GET.get("model") or "embedded",
    })


EXAMPLES_PER_PAGE = 100


class ExamplePaginator(Paginator):
    """A paginator that takes the task's example counts from one aggregate query (all
    examples and the pool's, in one scan) instead of a COUNT per figure."""

    def __init__(self, examples, per_page, task_counts, filtered):
        super().__init__(examples, per_page)
        self.task_counts, self.filtered = task_counts, filtered

    @property
    def count(self):
        if "_count" not in self.__dict__:
            self._count = super().count if self.filtered else self.task_counts["total"]
        return self._count


def example_page(request, task):
    """One page of the task's examples (`?page=`, EXAMPLES_PER_PAGE rows), filtered by `?q=`
    (a case-insensitive substring of the input or the output): a 100,000-example task never
    renders at once. Each row keeps its number in the whole task. The rows' order has its
    index (task, position, id) and the search a trigram index on Postgres (migration 0011)."""
    query = request.GET.get("q", "").strip()[:200].replace("\x00", "")
    # task_id too: the related manager reads it on every row (deferred, it costs a query per row)
    examples = task.examples.order_by("position", "id").only("id", "task_id", "position", "split", "input", "output")
    if query:
        examples = examples.filter(Q(input__icontains=query) | Q(output__icontains=query))
    counts = task.examples.aggregate(total=Count("id"), pool=Count("id", filter=Q(split=Example.POOL)))
    page = ExamplePaginator(examples, EXAMPLES_PER_PAGE, counts, bool(query)).get_page(request.GET.get("page"))
    return page, query


@login_required
def task_preview_json(request, pk):
    """The prompt preview (services/preview.py: the engine's own prompt builder) for pool
    example `index` (1-based, as on the page) with `k` demonstrations and an optional
    unsaved `template`, and with `model` the readability of the task for that model;
    400 with the field and the fix for bad parameters."""
    task = get_task(request, pk)
    numbers = {}
    for name, default in (("index", "1"), ("k", "0")):
        try:
            numbers[name] = int(request.GET.get(name, default))
        except ValueError:
            return JsonResponse({"field": name, "error": f"{name} must be a whole number, e.g. {name}={default}"},
                                status=400)
    index, k = numbers["index"] - 1, numbers["k"]
    try:
        body = preview(task, index, k, request.GET.get("template"))
    except PreviewError as exc:
        return JsonResponse({"field": exc.field, "error": exc.message}, status=400)
    model = (request.GET.get("model") or "").strip()
    if model:  # the unreadable-text guard for the chosen model (services/readability.py)
        body["readability"] = task_readability(model, task)
    return JsonResponse(body)
