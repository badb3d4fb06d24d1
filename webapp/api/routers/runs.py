"""The runs of an experiment: list, one run's state, progress, metrics and per-layer
similarity, its per-example predictions, its adapter download, cancel and retry."""
from datetime import datetime
from typing import Any, Dict, List, Optional

from django.http import FileResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from webapp.lab.models import EvalResult, Prediction, Run
from webapp.lab.services import run_actions
from webapp.lab.services.adapters import NoAdapter, adapter_zip
from webapp.teams import permissions

from ..auth import WRITE_AUTH
from ..errors import ApiError
from ..pagination import LimitOffset

router = Router(tags=["runs"])
RUNS = "/{int:experiment_id}/runs/"


class RunOut(Schema):
    id: int
    method: str
    method_label: str
    n: int
    seed: int
    state: str = Field(description=", ".join(s for s, _ in Run.STATE_CHOICES) + ".")
    stage: str
    step: int
    total: int
    progress: float = Field(description="Fraction of the whole run done (0 to 1).")
    eta_seconds: Optional[float]
    message: str
    error: str = Field(description="Why the run failed (empty otherwise).")
    cancel_requested: bool
    attempts: int = Field(description="Times a worker started it.")
    queued_at: datetime
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    training: List[Dict[str, Any]] = Field(description="What training chose, per stage.")
    final: bool = Field(description="Nothing more happens to the run by itself (done, failed or cancelled).")
    can_cancel: bool = Field(description="A cancel applies now (POST .../cancel/).")
    can_retry: bool = Field(description="It can be queued again (POST .../retry/).")
    has_adapter: bool = Field(description="It is done and stored an adapter (GET .../adapter.zip).")

    @staticmethod
    def resolve_progress(obj):
        return round(obj.progress, 4)


class LayerOut(Schema):
    layer: int
    cosine: Optional[float]
    cka: Optional[float]


class MetricsOut(Schema):
    eval_task: str
    accuracy: Optional[float]
    ece: Optional[float]
    ece_equal_mass: Optional[float]
    brier: Optional[float]
    nll: Optional[float]
    mean_similarity: Optional[float] = Field(description="Mean cosine similarity to the ICL activations.")
    n_layers: Optional[int]
    reliability: List[Dict[str, Any]]
    timings: Dict[str, Any]
    layers: List[LayerOut] = Field(description="Per-layer similarity to ICL (none for ICL itself).")

    @staticmethod
    def resolve_eval_task(obj):
        return obj.eval_task_name

    @staticmethod
    def resolve_layers(obj):
        return list(obj.layers.all())


class ArtifactOut(Schema):
    kind: str
    size: int
    sha256: str


class RunDetail(RunOut):
    metrics: List[MetricsOut]
    artifacts: List[ArtifactOut]
    adapter: Optional[str] = Field(description="Download URL of the adapter zip (a done run that trained one).")

    @staticmethod
    def resolve_metrics(obj):
        return list(EvalResult.objects.filter(run=obj).prefetch_related("layers").order_by("id"))

    @staticmethod
    def resolve_artifacts(obj):
        return list(obj.artifacts.order_by("id"))

    @staticmethod
    def resolve_adapter(obj):
        return f"/api/experiments/{obj.experiment_id}/runs/{obj.pk}/adapter.zip" if obj.has_adapter else None


class PredictionOut(Schema):
    eval_task: str
    index: int
    input: str
    gold: str
    predicted: str
    confidence: Optional[float]
    correct: bool
    label_probs: Optional[Dict[str, float]]

    @staticmethod
    def resolve_eval_task(obj):
        return obj.result.eval_task_name


class Changed(Schema):
    changed: bool
    state: str
    detail: str


def _run(request, experiment_id, run_id, action="read"):
    exp = permissions.get_experiment_or_404(request.user, experiment_id, action)
    return exp, get_object_or_404(Run, pk=run_id, experiment=exp)


@router.get(RUNS, response=List[RunOut], summary="An experiment's runs")
@paginate(LimitOffset)
def list_runs(request, experiment_id: int, state: Optional[str] = None):
    exp = permissions.get_experiment_or_404(request.user, experiment_id)
    qs = exp.runs.with_flags().order_by("id")
    if state:
        qs = qs.filter(state=state)
    return qs


@router.get(RUNS + "{int:run_id}/", response=RunDetail, summary="One run: state, progress, metrics, similarity")
def get_run(request, experiment_id: int, run_id: int):
    return _run(request, experiment_id, run_id)[1]


@router.get(RUNS + "{int:run_id}/predictions/", response=List[PredictionOut],
            summary="A run's per-example predictions")
@paginate(LimitOffset)
def list_predictions(request, experiment_id: int, run_id: int,
                     eval_task: Optional[str] = Query(None, description="Only this evaluation task (its name)."),
                     correct: Optional[bool] = None):
    _, run = _run(request, experiment_id, run_id)
    qs = Prediction.objects.filter(result__run=run).select_related("result").order_by("result_id", "index")
    if eval_task:
        qs = qs.filter(result__eval_task_name=eval_task)
    if correct is not None:
        qs = qs.filter(correct=correct)
    return qs


@router.get(RUNS + "{int:run_id}/adapter.zip", summary="Download the run's adapter (zip)",
            description="A zip of the files of the adapter the run trained; 404 with the reason when there is none.",
            openapi_extra={"responses": {200: {"description": "The zip", "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}})
def run_adapter(request, experiment_id: int, run_id: int):
    _, run = _run(request, experiment_id, run_id)
    try:
        handle, name = adapter_zip(run)
    except NoAdapter as exc:
        raise ApiError(404, str(exc)) from None
    return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")


@router.post(RUNS + "{int:run_id}/cancel/", response=Changed, auth=WRITE_AUTH, summary="Cancel one run")
def cancel_one(request, experiment_id: int, run_id: int):
    exp, run = _run(request, experiment_id, run_id, "cancel")
    done = run_actions.cancel(request.user, exp, run)
    return {"changed": bool(done.changed), "state": done.state, "detail": done.detail}


@router.post(RUNS + "{int:run_id}/retry/", response=Changed, auth=WRITE_AUTH,
             summary="Queue a failed or cancelled run again")
def retry_one(request, experiment_id: int, run_id: int):
    _, run = _run(request, experiment_id, run_id, "cancel")  # who may cancel a run may retry it
    try:
        done = run_actions.retry(request.user, run)
    except run_actions.Refused as exc:
        raise ApiError(409, str(exc)) from None
    return {"changed": True, "state": done.state, "detail": done.detail}
