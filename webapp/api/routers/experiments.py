"""Experiments: list, retrieve, create (= validate with the experiment form of the pages,
then launch), validate only (with the wall-time estimate), cancel, delete, and the compare
results (the payload of the page's results.json)."""
from datetime import datetime
from typing import Any, Dict, List, Optional, Union

from django.db import IntegrityError
from django.db.models import Count, Q
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from webapp.lab.experiment_form import ExperimentForm
from webapp.lab.models import Experiment, Run
from webapp.lab.services import dispatch
from webapp.lab.services.launch import already_submitted, launch
from webapp.lab.views.page_json import results_response
from webapp.lab.views.experiments import BROKER_DOWN_NOTE, cancel_run, posted_tasks_or_404
from webapp.teams import permissions
from webapp.teams.services import delete_experiment, record

from ..auth import WRITE_AUTH
from ..common import check_form, form_data, target_team
from ..errors import ApiError
from ..pagination import LimitOffset

router = Router(tags=["experiments"])

STATES = [s for s, _ in Run.STATE_CHOICES]
IntOrText = Union[int, str]


class Strict(Schema):
    model_config = {"extra": "forbid"}


class ExperimentOut(Schema):
    id: int
    team: int
    name: str
    owner: Optional[str]
    model_name: str
    train_task: int
    eval_tasks: List[int]
    methods: List[str]
    n_values: List[int]
    seeds: int
    icl_demos: Optional[int]
    eval_size: int
    similarity_size: Optional[int]
    adapter_type: str
    lora_r: int
    lora_alpha: int
    target_modules: List[str]
    warnings: List[str] = Field(description="Unreadable-text warnings confirmed at launch.")
    created_at: datetime
    runs: Dict[str, int] = Field(description="Runs per state, and their total.")
    finished: bool = Field(description="Every run is done, failed or cancelled.")
    page: str = Field(description="The experiment's page in the app.")

    @staticmethod
    def resolve_team(obj):
        return obj.team_id

    @staticmethod
    def resolve_owner(obj):
        return obj.owner.username if obj.owner_id else None

    @staticmethod
    def resolve_train_task(obj):
        return obj.train_task_id

    @staticmethod
    def resolve_eval_tasks(obj):
        return sorted(t.pk for t in obj.eval_tasks.all())

    @staticmethod
    def resolve_similarity_size(obj):
        return (obj.config or {}).get("similarity_size")

    @staticmethod
    def resolve_runs(obj):
        counts = {s: getattr(obj, f"n_{s}") for s in STATES}
        counts["total"] = sum(counts.values())
        return counts

    @staticmethod
    def resolve_finished(obj):
        return all(getattr(obj, f"n_{s}") == 0 for s in (Run.QUEUED, Run.RUNNING))

    @staticmethod
    def resolve_page(obj):
        return f"/experiments/{obj.pk}/"


class ExperimentIn(Strict):
    """The experiment form's fields; a field left out takes the form's default. Values are
    checked by the form of the pages, with the same messages."""

    team: Optional[int] = Field(None, description="Team id (GET /api/teams/); default: your current team, which "
                                                   "for a token is your personal space.")
    submit_key: Optional[str] = Field(None, description="Idempotency key, 32 lowercase hex characters (e.g. "
                                                         "uuid4().hex): sent again, it answers the experiment it "
                                                         "created (200) instead of launching another.")
    name: Optional[str] = None
    model_name: Optional[str] = Field(None, description='A local model (e.g. "embedded", the default), a '
                                                         "Hugging Face id, a model directory or a .gguf path.")
    train_task: IntOrText = Field(description="Task id (GET /api/tasks/).")
    eval_tasks: List[IntOrText] = Field([], description="Task ids; empty: evaluate on the train task.")
    methods: Optional[List[str]] = Field(None, description="Of icl, sft, ia2, ia2-sft, base (the form's default "
                                                            "when left out).")
    n_values: Optional[Union[List[IntOrText], IntOrText]] = Field(None, description="e.g. [4, 8] or \"4,8\".")
    seeds: Optional[IntOrText] = None
    icl_demos: Optional[IntOrText] = None
    eval_size: Optional[IntOrText] = None
    similarity_size: Optional[IntOrText] = None
    adapter_type: Optional[str] = Field(None, description="lora or ia3.")
    lora_r: Optional[IntOrText] = None
    lora_alpha: Optional[IntOrText] = None
    target_modules: Optional[Union[List[str], str]] = Field(None, description='e.g. ["q_proj", "v_proj"].')
    confirm_unreadable: bool = Field(False, description="Launch even though the model cannot read part of the "
                                                        "tasks' text (the unreadable-text guard).")


class Validated(Schema):
    valid: bool
    runs: int = Field(description="Runs it would launch.")
    warnings: List[str]
    estimate: Dict[str, Any] = Field(description="The wall-time estimate of the experiment form.")


class Cancelled(Schema):
    cancelling: int = Field(description="Runs asked to stop.")
    broker_reachable: bool
    detail: str


def with_counts(qs):
    """Experiments with their run counts per state (one query for a whole page)."""
    return (qs.select_related("owner").prefetch_related("eval_tasks")
            .annotate(**{f"n_{s}": Count("runs", filter=Q(runs__state=s)) for s in STATES}))


def _one(exp):
    return with_counts(Experiment.objects.filter(pk=exp.pk)).get()


LIST_FIELDS = ("n_values", "target_modules")


def _form_for(request, payload, team):
    """The experiment form of the pages, bound to the body as the browser would post it:
    a field left out takes the form's initial value (what the rendered form would send)."""
    values = payload.dict(exclude={"team", "confirm_unreadable"})
    for key in LIST_FIELDS:
        if isinstance(values.get(key), list):
            values[key] = ",".join(str(v) for v in values[key])
    for key, field in ExperimentForm.base_fields.items():
        if values.get(key) is None and field.initial is not None and key not in ("submit_key",):
            values[key] = field.initial
    values["confirm_unreadable"] = payload.confirm_unreadable
    data = form_data(values)
    posted_tasks_or_404(data, team)
    return ExperimentForm(data, user=request.user, team=team)


@router.get("/", response=List[ExperimentOut], summary="Experiments of your teams, newest first")
@paginate(LimitOffset)
def list_experiments(request, team: Optional[int] = None):
    qs = permissions.readable_experiments(request.user)
    if team is not None:
        qs = qs.filter(team_id=team)
    return with_counts(qs.defer("config")).order_by("-created_at", "-id")


@router.post("/", response={200: ExperimentOut, 201: ExperimentOut}, auth=WRITE_AUTH,
             summary="Launch an experiment (validated like the experiment form)",
             description="201 with the new experiment; 200 with the earlier one when its `submit_key` was already "
                         "used; 422 `{\"errors\": {field: [messages]}}` with the form's own messages.")
def create_experiment(request, payload: ExperimentIn):
    team = target_team(request, payload.team, "launch")
    first = already_submitted(request.user, (payload.submit_key or "")[:64])
    if first is not None:
        return Status(200, _one(first))
    form = _form_for(request, payload, team)
    data = check_form(form)
    try:
        exp = launch(request.user, {**data, "team": team, "warnings": form.warnings}, form.config, form.plan)
    except IntegrityError:  # the same key's other request committed first
        first = already_submitted(request.user, data.get("submit_key"))
        if first is None:
            raise
        return Status(200, _one(first))
    record(request.user, team, "launch", exp, runs=exp.runs.count())
    return Status(201, _one(exp))


@router.post("/validate/", response=Validated, auth=WRITE_AUTH,
             summary="Check an experiment and estimate its wall time; launches nothing")
def validate_experiment(request, payload: ExperimentIn):
    team = target_team(request, payload.team, "launch")
    form = _form_for(request, payload, team)
    data = check_form(form)
    return {"valid": True, "runs": len(form.plan), "warnings": form.warnings,
            "estimate": form.estimate(dispatch.queue_for(data["model_name"]))}


@router.get("/{int:experiment_id}/", response=ExperimentOut, summary="One experiment")
def get_experiment(request, experiment_id: int):
    return _one(permissions.get_experiment_or_404(request.user, experiment_id))


@router.post("/{int:experiment_id}/cancel/", response=Cancelled, auth=WRITE_AUTH,
             summary="Cancel every run that has not finished")
def cancel_experiment(request, experiment_id: int):
    exp = permissions.get_experiment_or_404(request.user, experiment_id, "cancel")
    outcomes = [cancel_run(r) for r in exp.runs.exclude(state__in=Run.FINAL_STATES)]
    cancelling = sum(c for c, _ in outcomes)
    if cancelling:
        record(request.user, exp.team, "cancel", exp, runs=cancelling)
    broker_ok = all(ok for _, ok in outcomes)
    return {"cancelling": cancelling, "broker_reachable": broker_ok,
            "detail": f"Cancelling {cancelling} run(s)." + ("" if broker_ok else " " + BROKER_DOWN_NOTE)}


@router.delete("/{int:experiment_id}/", response={204: None}, auth=WRITE_AUTH,
               summary="Delete an experiment with its runs, results and artifacts",
               description="409 while runs are still stopping: their cancel has been asked; delete again in a "
                           "few seconds.")
def remove_experiment(request, experiment_id: int):
    exp = permissions.get_experiment_or_404(request.user, experiment_id, "delete")
    running = delete_experiment(request.user, exp, cancel_run)
    if running:
        raise ApiError(409, f"Cancelling {running} running run(s) of {exp}; delete again once they have stopped "
                            "(a few seconds).")
    return Status(204, None)


@router.get("/{int:experiment_id}/results/", response=Dict[str, Any],
            summary="Compared results (the payload of the page's results.json)",
            description="Mean, standard deviation and 95% interval over seeds per eval task, method and N; the "
                        "ICL baseline; reliability bins; per-layer similarity; every done run's metrics.")
def experiment_results(request, experiment_id: int):
    return results_response(request, permissions.get_experiment_or_404(request.user, experiment_id))
