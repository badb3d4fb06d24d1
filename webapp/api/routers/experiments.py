"""Experiments: list, retrieve, create (the body read as the experiment spec and checked by
the same planning service as the pages' form, then launched), validate only (with the
wall-time estimate), the settings of a run-again, cancel, delete, and the compare results
(the payload of the page's results.json). The spec's fields of ExperimentIn/ExperimentOut
are built from the spec (webapp/api/spec_schemas.py)."""
from datetime import datetime
from typing import Any, Dict, List, Optional

from django.db import IntegrityError
from django.db.models import Count, Q
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate
from pydantic import create_model

from webapp.lab.experiment_spec import derived
from webapp.lab.models import Experiment, Run
from webapp.lab.services import dispatch, planning, quotas, run_actions
from webapp.lab.services.launch import KeyAlreadyUsed, already_submitted, launch
from webapp.lab.responses import results_response
from webapp.teams import permissions
from webapp.teams.services import delete_experiment

from ..auth import WRITE_AUTH
from ..common import target_team
from ..errors import ApiError, invalid
from ..pagination import LimitOffset
from ..spec_schemas import SpecOut, request_fields, with_spec_fields

router = Router(tags=["experiments"])

STATES = [s for s, _ in Run.STATE_CHOICES]


class Strict(Schema):
    model_config = {"extra": "forbid"}


class ExperimentFacts(Schema):
    """What an experiment is besides its settings (ExperimentOut adds those)."""

    id: int
    team: int
    owner: Optional[str]
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
    def resolve_runs(obj):
        counts = {s: getattr(obj, f"n_{s}") for s in STATES}
        counts["total"] = sum(counts.values())
        return counts

    @staticmethod
    def resolve_finished(obj):
        return all(getattr(obj, f"n_{s}") == 0 for s in STATES if s not in Run.FINAL_STATES)

    @staticmethod
    def resolve_page(obj):
        return f"/experiments/{obj.pk}/"


ExperimentOut = with_spec_fields("ExperimentOut", ExperimentFacts, "An experiment: its settings and its runs.")

ExperimentIn = create_model(
    "ExperimentIn", __base__=Strict,
    __doc__="The experiment spec's fields; a field left out (or null) takes its default. Values are read and "
            "checked like the experiment form's, with the same messages.",
    team=(Optional[int], Field(None, description="Team id (GET /api/teams/); default: your current team, which for "
                                                 "a token is your personal space.")),
    submit_key=(Optional[str], Field(None, description="Idempotency key, 32 lowercase hex characters (e.g. "
                                                       "uuid4().hex): sent again, it answers the experiment it "
                                                       "created (200) instead of launching another.")),
    **request_fields(),
    confirm_unreadable=(bool, Field(False, description="Launch even though the model cannot read part of the "
                                                       "tasks' text (the unreadable-text guard).")),
)


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


def _plan(request, payload, team):
    """The body read as the spec (a field left out takes its default) and checked by the
    planning service of the form; 422 with its field errors."""
    values = payload.model_dump(exclude_none=True, exclude={"team"})
    planning.posted_tasks_or_404([values.get("train_task"), *values.get("eval_tasks", [])], team)
    plan = planning.plan_submission(request.user, values, team=team)
    if not plan.ok:
        raise invalid(plan.errors)
    return plan


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
                         "used (409 when you may no longer read it); 422 `{\"errors\": {field: [messages]}}` "
                         "with the form's own messages.")
def create_experiment(request, payload: ExperimentIn):
    team = target_team(request, payload.team, "launch")
    try:
        first = already_submitted(request.user, (payload.submit_key or "")[:64])
        if first is not None:
            return Status(200, _one(first))
        plan = _plan(request, payload, team)
        try:
            exp = launch(request.user, team, plan)
        except IntegrityError:  # the same key's other request committed first
            first = already_submitted(request.user, plan.submit_key)
            if first is None:
                raise
            return Status(200, _one(first))
    except KeyAlreadyUsed as exc:
        raise ApiError(409, str(exc))
    except quotas.QuotaExceeded as exc:  # a concurrent launch took the room after planning
        raise invalid({"__all__": [str(exc)]})
    return Status(201, _one(exp))


@router.post("/validate/", response=Validated, auth=WRITE_AUTH,
             summary="Check an experiment and estimate its wall time; launches nothing")
def validate_experiment(request, payload: ExperimentIn):
    team = target_team(request, payload.team, "launch")
    plan = _plan(request, payload, team)
    return {"valid": True, "runs": len(plan.runs), "warnings": plan.warnings,
            "estimate": planning.estimate(plan, dispatch.queue_for(plan.spec.model_name))}


@router.get("/{int:experiment_id}/", response=ExperimentOut, summary="One experiment")
def get_experiment(request, experiment_id: int):
    return _one(permissions.get_experiment_or_404(request.user, experiment_id))


@router.get("/{int:experiment_id}/clone/", response=SpecOut, summary="The settings to run an experiment again",
            description="What the page's \"Run again with changes\" fills in: its settings, named \"… (again)\". "
                        "POST them (changed as you like) to /api/experiments/ to launch.")
def clone_experiment(request, experiment_id: int):
    return derived(permissions.get_experiment_or_404(request.user, experiment_id), "again").model_dump()


@router.post("/{int:experiment_id}/cancel/", response=Cancelled, auth=WRITE_AUTH,
             summary="Cancel every run that has not finished")
def cancel_experiment(request, experiment_id: int):
    exp = permissions.get_experiment_or_404(request.user, experiment_id, "cancel")
    done = run_actions.cancel_all(request.user, exp)
    return {"cancelling": done.changed, "broker_reachable": done.broker_ok, "detail": done.detail}


@router.delete("/{int:experiment_id}/", response={204: None}, auth=WRITE_AUTH,
               summary="Delete an experiment with its runs, results and artifacts",
               description="409 while runs are still stopping: their cancel has been asked; delete again in a "
                           "few seconds.")
def remove_experiment(request, experiment_id: int):
    exp = permissions.get_experiment_or_404(request.user, experiment_id, "delete")
    running = delete_experiment(request.user, exp, run_actions.cancel_unfinished)
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
