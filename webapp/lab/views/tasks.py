"""Task pages: list, create/edit/delete/copy, and the prompt preview's JSON."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from webapp.teams import permissions
from webapp.teams import selectors as team_selectors
from workers.engine.local_models import local_models
from webapp.teams.services import TeamError, copy_task, current_team, delete_task, record

from .. import fragments, selectors
from ..models import Task
from ..forms import ExampleForm, HubImportForm, ImportFileForm, TaskForm
from ..services.presets import preset_for
from ..services.preview import PreviewError, preview
from ..services.readability import task_readability


@login_required
def task_list(request):
    # each task's pool and eval counts are stored on it (Task.examples_changed), not counted here;
    # its link, labels and cut description prepared here (the template's tags cost ~0.1 ms a row)
    tasks = list(selectors.team_tasks(current_team(request)))
    task_url = url_for_each("task-detail")
    for t in tasks:
        t.url = task_url(t.pk)
        t.reads = ", ".join(map(str, t.labels or [])) if t.kind == Task.CLASSIFICATION else t.answer_parser
        t.short_description = _short(t.description, 90)
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
    task = selectors.get_task(request.user, pk, "edit")
    form = TaskForm(request.POST or None, instance=task, owner=request.user, team=task.team)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Task saved.")
        return redirect("task-detail", pk=task.pk)
    return render(request, "lab/task_form.html", {"form": form, "task": task, "title": f"Edit {task.name}"})


@login_required
@require_POST
def task_delete(request, pk):
    task = selectors.get_task(request.user, pk, "delete")
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
    src = selectors.get_task(request.user, pk)
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
    task = selectors.get_task(request.user, pk)
    page, query = example_page(request, task)
    p = preset_for(task)
    user = request.user
    can_edit = permissions.can(user, "edit", task)
    return render(request, "lab/task_detail.html", {
        "task": task,
        "can_edit": can_edit,
        "rows_html": example_rows_html(request, task, page, query, can_edit),
        "edit_forms_html": edit_forms_html(request, task, p) if can_edit else "",
        "can_delete": permissions.can(user, "delete", task),
        "can_launch": permissions.can(user, "launch", current_team(request)),
        **team_selectors.destinations(user, task),
        "examples": page,
        "query": query,
        "n_examples": task.n_pool + task.n_eval,
        "n_pool": task.n_pool,
        "hub_form": hub_form(task, p) if task.needs_hub and can_edit else None,  # the rest: edit_forms_html
        "preset": p,
        "local_models": local_models(),
        "preview_model": request.GET.get("model") or "embedded",
    })


EXAMPLES_PER_PAGE = 100


class ExamplePaginator(Paginator):
    """A paginator that takes an unfiltered page's total from the task's stored counts
    (Task.examples_changed) instead of a COUNT over its examples."""

    def __init__(self, examples, per_page, total):
        super().__init__(examples, per_page)
        self.total = total

    @property
    def count(self):
        if "_count" not in self.__dict__:
            self._count = super().count if self.total is None else self.total
        return self._count


EXAMPLE_ROWS_SECONDS = 600  # a page of rows, cached per examples version (a crawl of 1,000 pages expires)


def hub_form(task, preset):
    """The hub import form, filled in from the task's dataset or its benchmark preset."""
    initial = {"dataset_id": task.hf_dataset, "split": "train"}
    if preset:
        initial.update(config=preset["config"] or "", input_column=preset["input"], output_column=preset["output"],
                       split=preset["train_split"] or preset["eval_split"])
    return HubImportForm(initial=initial)


def edit_forms_html(request, task, preset):
    """The forms that add and import examples (webapp/lab/fragments.py): rendering Django's
    forms costs more than the rest of the page, and they change only with the task."""
    html = fragments.cached(task.cache_key("edit-forms", task.updated_at.timestamp()), lambda: render_to_string(
        "lab/_task_edit_forms.html", {"task": task, "example_form": ExampleForm(task=task),
                                      "import_form": ImportFileForm(), "hub_form": hub_form(task, preset),
                                      "csrf_input": fragments.CSRF_PLACEHOLDER}), EXAMPLE_ROWS_SECONDS)
    return fragments.personalise(request, html)


def example_rows_html(request, task, page, query, can_edit):
    """The rows of one page of examples (webapp/lab/fragments.py): cached per examples
    version, page and edit rights; a search's rows are rendered each time (their key would
    be whatever a user typed)."""
    key = None if query else task.cache_key("example-rows", page.number, "rw" if can_edit else "ro")
    html = fragments.cached(key, lambda: render_to_string("lab/_example_rows.html", {
        "rows": example_rows(task, page), "query": query, "can_edit": can_edit,
        "csrf_input": fragments.CSRF_PLACEHOLDER}), EXAMPLE_ROWS_SECONDS)
    return fragments.personalise(request, html)


def _short(text, limit):
    return text if len(text) <= limit else text[:limit - 1] + "…"


def example_rows(task, page):
    """What each row shows: its number in the whole task, input and output cut to 160 and
    60 characters, and its links (one reverse per page, url_for_each: the template's own
    `url` tag and `truncatechars` filter were two thirds of a search page's rendering time)."""
    edit, delete = url_for_each("example-edit", task.pk), url_for_each("example-delete", task.pk)
    return [{"number": page.start_index() + i, "input": _short(ex.input, 160), "output": _short(ex.output, 60),
             "split": ex.split, "edit": edit(ex.pk), "delete": delete(ex.pk)}
            for i, ex in enumerate(page)]


def url_for_each(name, *args):
    """pk -> reverse(name, args=[*args, pk]), with one reverse for a whole list of rows."""
    marker = "2147483647"
    left, right = reverse(name, args=[*args, marker]).rsplit(marker, 1)
    return lambda pk: f"{left}{pk}{right}"


def example_page(request, task):
    """One page of the task's examples (`?page=`, EXAMPLES_PER_PAGE rows), filtered by `?q=`
    (a case-insensitive substring of the input or the output): a 100,000-example task never
    renders at once. Each row keeps its number in the whole task."""
    query = request.GET.get("q", "").strip()[:200].replace("\x00", "")
    total = None if query else task.n_pool + task.n_eval
    page = ExamplePaginator(selectors.task_examples(task, query), EXAMPLES_PER_PAGE, total).get_page(request.GET.get("page"))
    return page, query


@login_required
def task_preview_json(request, pk):
    """The prompt preview (services/preview.py: the engine's own prompt builder) for pool
    example `index` (1-based, as on the page) with `k` demonstrations and an optional
    unsaved `template`, and with `model` the readability of the task for that model;
    400 with the field and the fix for bad parameters."""
    task = selectors.get_task(request.user, pk)
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
