"""Tasks and their examples: list, create (with examples), retrieve, update, delete; examples
one by one, in bulk, and imported from a CSV/JSONL file. The task and example forms of the
pages validate every write (the same messages), the same services store them."""
from datetime import datetime
from typing import List, Literal, Optional

from django.db import transaction
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from webapp.lab import selectors
from webapp.lab.forms import ExampleForm, TaskForm, label_list_problem
from webapp.lab.models import Example, Task
from webapp.lab.services.examples import check_labels, next_position, save_rows
from webapp.lab.services.importers import ImportProblem, parse_upload
from webapp.lab.services.quotas import QuotaExceeded, ensure_room_for_examples
from webapp.teams.services import TeamError, delete_task, record

from ..auth import WRITE_AUTH
from ..common import check_form, form_data, target_team
from ..errors import ApiError, invalid
from ..pagination import LimitOffset

router = Router(tags=["tasks"])
MAX_BULK = 10_000  # examples in one bulk request (larger sets: the file import)


class Strict(Schema):
    model_config = {"extra": "forbid"}


class TaskOut(Schema):
    id: int
    team: Optional[int] = Field(description="The team it belongs to; null for a shared built-in task.")
    name: str
    description: str
    kind: str
    input_template: str
    labels: List[str]
    answer_parser: str
    builtin: bool
    editable: bool
    n_pool: int = Field(description="Examples in the pool (training and demonstrations).")
    n_eval: int = Field(description="Held-out evaluation examples.")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_team(obj):
        return obj.team_id


class ExampleIn(Strict):
    input: str
    output: str
    split: Literal["pool", "eval"] = "pool"


class ExampleOut(Schema):
    id: int
    position: int
    split: str
    input: str
    output: str


class TaskIn(Strict):
    team: Optional[int] = Field(None, description="Team id (GET /api/teams/); default: your current team, "
                                                   "which for a token is your personal space.")
    name: str
    description: str = ""
    kind: Literal["classification", "generation"] = "classification"
    input_template: str = Field("", description="Must contain {x}. Left out: the template of `for_model`, "
                                                "else Text:{x}\\nLabel:.")
    for_model: str = Field("", description="A local model whose template an empty input_template takes.")
    labels: List[str] = Field([], description="Classification: at least two labels.")
    answer_parser: str = "plain"
    examples: List[ExampleIn] = Field([], description=f"Examples stored with the task (at most {MAX_BULK:,}).")


class TaskPatch(Strict):
    name: Optional[str] = None
    description: Optional[str] = None
    kind: Optional[Literal["classification", "generation"]] = None
    input_template: Optional[str] = None
    labels: Optional[List[str]] = None
    answer_parser: Optional[str] = None


class ExamplesIn(Strict):
    examples: List[ExampleIn]


class ExamplePatch(Strict):
    input: Optional[str] = None
    output: Optional[str] = None
    split: Optional[Literal["pool", "eval"]] = None


class Imported(Schema):
    imported: int
    split: str
    replaced: bool
    n_pool: int
    n_eval: int


def _out(task):
    """The task with its example counts (fresh from the database: stored on the task)."""
    return Task.objects.get(pk=task.pk)


TASK_FIELDS = ("name", "description", "kind", "input_template", "answer_parser")
RENAME = {"labels_text": "labels"}


def _refuse_split_labels(labels):
    """422 for a label the form's one-text label set would split (forms.label_list_problem)."""
    problem = label_list_problem(labels or [])
    if problem:
        raise invalid({"labels": [problem]})


def _task_form(values, **kwargs):
    data = {k: values.get(k) for k in TASK_FIELDS}
    data["labels_text"] = "\n".join(values.get("labels") or [])
    data["for_model"] = values.get("for_model") or None
    return TaskForm(form_data(data), **kwargs)


def _valid_examples(task, examples, prefix="examples"):
    """The examples' rows, each checked by the example form of the pages (all or nothing)."""
    errors, rows = {}, []
    for i, ex in enumerate(examples):
        form = ExampleForm(form_data(ex.dict()), task=task)
        if form.is_valid():
            rows.append(form.cleaned_data)
        for field, messages in form.errors.items():
            errors[f"{prefix}[{i}].{field}" if prefix else field] = messages
    if errors:
        raise invalid(errors)
    return rows


def _store_examples(task, rows, field="examples"):
    """Append rows (each with its split) in one transaction, within the task's quota."""
    with transaction.atomic():
        try:
            ensure_room_for_examples(task, len(rows))
        except QuotaExceeded as exc:
            raise invalid({field: [str(exc)]}) from None
        start = next_position(task)
        return Example.objects.bulk_create(
            Example(task=task, position=start + i, split=r["split"], input=r["input"],
                    output=r["output"].strip() if task.kind == Task.CLASSIFICATION else r["output"])
            for i, r in enumerate(rows))


@router.get("/", response=List[TaskOut], summary="Tasks you can read (your teams' and the built-ins)")
@paginate(LimitOffset)
def list_tasks(request, team: Optional[int] = None, builtin: Optional[bool] = None):
    return selectors.readable_tasks(request.user, team, builtin)


@router.post("/", response={201: TaskOut}, auth=WRITE_AUTH, summary="Create a task (optionally with examples)")
def create_task(request, payload: TaskIn):
    team = target_team(request, payload.team, "create")
    if len(payload.examples) > MAX_BULK:
        raise invalid({"examples": [f"Send at most {MAX_BULK:,} examples per request; import larger sets from "
                                    "a file (POST /api/tasks/{id}/import/)."]})
    values = payload.dict()
    _refuse_split_labels(values["labels"])
    if not values["input_template"] and not values["for_model"]:  # what the page's empty form starts from
        values["input_template"] = Task._meta.get_field("input_template").default
    form = _task_form(values, owner=request.user, team=team)
    check_form(form, RENAME)
    form.instance.labels = form.cleaned_data["labels"]  # the examples are checked against them
    rows = _valid_examples(form.instance, payload.examples) if payload.examples else []
    with transaction.atomic():
        task = form.save()
        if rows:
            _store_examples(task, rows)
        record(request.user, team, "create", task)
    return Status(201, _out(task))


@router.get("/{int:task_id}/", response=TaskOut, summary="One task")
def get_one_task(request, task_id: int):
    return _out(selectors.get_task(request.user, task_id))


@router.patch("/{int:task_id}/", response=TaskOut, auth=WRITE_AUTH, summary="Change a task's fields")
def update_task(request, task_id: int, payload: TaskPatch):
    task = selectors.get_task(request.user, task_id, "edit")
    _refuse_split_labels(payload.labels)
    values = {k: getattr(task, k) for k in TASK_FIELDS}
    values["labels"] = list(task.labels or [])
    values.update(payload.dict(exclude_unset=True))
    form = _task_form(values, instance=task, owner=request.user, team=task.team)
    check_form(form, RENAME)
    form.save()
    return _out(task)


@router.delete("/{int:task_id}/", response={204: None}, auth=WRITE_AUTH, summary="Delete a task")
def remove_task(request, task_id: int):
    task = selectors.get_task(request.user, task_id, "delete")
    try:
        delete_task(request.user, task)
    except TeamError as exc:
        raise ApiError(409, str(exc)) from None
    return Status(204, None)


@router.get("/{int:task_id}/examples/", response=List[ExampleOut], summary="A task's examples")
@paginate(LimitOffset)
def list_examples(request, task_id: int, split: Optional[Literal["pool", "eval"]] = None,
                  q: str = Query("", max_length=200, description="Only examples whose input or output contains it")):
    task = selectors.get_task(request.user, task_id)
    return selectors.task_examples(task, q.strip().replace("\x00", ""), split)


@router.post("/{int:task_id}/examples/", response={201: ExampleOut}, auth=WRITE_AUTH, summary="Add one example")
def add_example(request, task_id: int, payload: ExampleIn):
    task = selectors.get_task(request.user, task_id, "edit")
    rows = _valid_examples(task, [payload], prefix=None)
    return Status(201, _store_examples(task, rows, "input")[0])


@router.post("/{int:task_id}/examples/bulk/", response={201: List[ExampleOut]}, auth=WRITE_AUTH,
             summary=f"Add many examples at once (all or nothing, at most {MAX_BULK:,})")
def add_examples(request, task_id: int, payload: ExamplesIn):
    task = selectors.get_task(request.user, task_id, "edit")
    if not payload.examples:
        raise invalid({"examples": ["Send at least one example."]})
    if len(payload.examples) > MAX_BULK:
        raise invalid({"examples": [f"Send at most {MAX_BULK:,} examples per request; import larger sets from a "
                                    "file (POST /api/tasks/{id}/import/)."]})
    return Status(201, _store_examples(task, _valid_examples(task, payload.examples)))


@router.patch("/{int:task_id}/examples/{int:example_id}/", response=ExampleOut, auth=WRITE_AUTH,
              summary="Change an example")
def update_example(request, task_id: int, example_id: int, payload: ExamplePatch):
    task = selectors.get_task(request.user, task_id, "edit")
    example = selectors.example_or_404(task, example_id)
    values = {"input": example.input, "output": example.output, "split": example.split}
    values.update(payload.dict(exclude_unset=True))
    form = ExampleForm(form_data(values), instance=example, task=task)
    check_form(form)
    return form.save()


@router.delete("/{int:task_id}/examples/{int:example_id}/", response={204: None}, auth=WRITE_AUTH,
               summary="Delete an example")
def remove_example(request, task_id: int, example_id: int):
    task = selectors.get_task(request.user, task_id, "edit")
    selectors.example_or_404(task, example_id).delete()
    return Status(204, None)


@router.post("/{int:task_id}/import/", response=Imported, auth=WRITE_AUTH,
             summary="Import examples from a CSV (input,output) or JSONL file (all or nothing)")
def import_examples(request, task_id: int, file: UploadedFile = File(None, description="a .csv or .jsonl file"),
                    split: Form[Literal["pool", "eval"]] = "pool", replace: Form[bool] = False):
    task = selectors.get_task(request.user, task_id, "edit")
    refused = getattr(request, "upload_refused", None)  # webapp/lab/uploads.py stopped it while it streamed in
    if refused:
        raise ApiError(413, f"Nothing was imported: {refused}")
    if file is None:
        raise invalid({"file": ["Send the file as multipart/form-data in the field \"file\" (.csv with the "
                                "columns input,output, or .jsonl with one {\"input\", \"output\"} per line)."]})
    try:
        rows = parse_upload(file.name, file.read())
        check_labels(task, rows)
        save_rows(task, rows, split, replace)
    except ImportProblem as exc:
        raise invalid({"file": [f"Nothing was imported from {file.name}: {exc}"]}) from None
    except QuotaExceeded as exc:
        raise invalid({"file": [f"Nothing was imported from {file.name}: {exc}"]}) from None
    counts = _out(task)
    return {"imported": len(rows), "split": split, "replaced": replace, "n_pool": counts.n_pool,
            "n_eval": counts.n_eval}
