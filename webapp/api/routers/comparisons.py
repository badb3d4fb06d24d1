"""Comparing runs across experiments: the metrics over seeds (the payload of the page's
/compare/data.json), the paired statistics of two methods, the per-example diff (paged by
the API's limit and offset) and the values each filter can take.

Thin: the filters are read by `services/cross_experiment.parse` from the query string, so the
parameters, their forms (repeated, or comma-separated: `method=icl,sft`) and the messages for
bad ones are the page's; the runs come from `cross_experiment.select` (only the user's teams; an
explicit experiment or run id outside them is 404). The query schemas below document the
parameters; a parameter a route does not take answers 422 naming it, so a typo never
silently compares everything."""
from typing import Any, Dict, List, Optional

from ninja import Field, Query, Router, Schema

from webapp.lab.services import cross_experiment

from ..errors import ApiError, invalid
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, LimitOffset

router = Router(tags=["comparisons"])


# --- query parameters ---------------------------------------------------------------------

def _list(description):
    return Field([], description=description + " Repeat the parameter or separate values with commas.")


class FilterQuery(Schema):
    """The filters of /compare/ (every one optional: none compares every done run of your teams)."""

    model: List[str] = Field([], description="Model names (repeat the parameter for several).")
    train_task: List[str] = Field([], description="Training task names (repeat the parameter for several).")
    eval_task: List[str] = Field([], description="Evaluation task names (repeat the parameter for several).")
    method: List[str] = _list(f"Methods: {', '.join(cross_experiment.METHODS)}.")
    n: List[str] = _list("Numbers of training examples N.")
    seed: List[str] = _list("Seeds.")
    state: List[str] = _list(f"Run states ({', '.join(cross_experiment.STATES)}); default done.")
    experiment: List[str] = _list("Experiment ids (404 for an id outside your teams).")
    run: List[str] = _list("Run ids (404 for an id outside your teams).")


class PairQuery(FilterQuery):
    a: Optional[str] = Field(None, description=f"Method A (required): one of {', '.join(cross_experiment.METHODS)}.")
    b: Optional[str] = Field(None, description="Method B (required), not A.")


class ExampleQuery(FilterQuery):
    example_task: Optional[str] = Field(None, description="The evaluation task of the table (default: the first).")
    show: Optional[str] = Field(None, description="Which examples: " + "; ".join(
        f"{k} = {v}" for k, v in cross_experiment.SHOW.items()) + ". The A/B filters need a and b.")
    a: Optional[str] = Field(None, description="Method A (for show=a_right_b_wrong / a_wrong_b_right).")
    b: Optional[str] = Field(None, description="Method B.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Examples per page (1 to {MAX_LIMIT}).")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Examples to skip.")


def selection(request, query_schema, required=()):
    """(filters, selection) of the request's query string, read by the page's parser; 422
    naming every bad, missing or unknown parameter; 404 for ids outside the user's teams."""
    allowed = list(query_schema.model_fields)
    errors = {name: [f"not a parameter of this route; it takes {', '.join(allowed)}"
                     + (" (pages: limit and offset)" if name == "page" and "limit" in allowed else "")]
              for name in request.GET if name not in allowed}
    try:
        filters = cross_experiment.parse(request.GET)
    except cross_experiment.BadParameters as exc:
        errors.update({k: [v] for k, v in exc.errors.items()})
        filters = None
    for name in required:
        if not request.GET.get(name, "").strip() and name not in errors:
            errors[name] = [f"required: choose a method, one of {', '.join(cross_experiment.METHODS)}"]
    if errors:
        raise invalid(errors)
    try:
        return filters, cross_experiment.select(request.user, filters)
    except cross_experiment.NotReadable as exc:
        raise ApiError(404, str(exc)) from None


# --- answers ------------------------------------------------------------------------------

class FilterValues(Schema):
    """The filters that pick runs: what a comparison used, or what a filter can take."""
    model: List[str]
    train_task: List[str]
    eval_task: List[str]
    method: List[str]
    n: List[int]
    seed: List[int]
    state: List[str]


class FiltersOut(FilterValues):
    experiment: List[int]
    run: List[int]
    a: str
    b: str
    show: str
    page: int
    example_task: str


class RunInfo(Schema):
    id: int
    experiment: int
    experiment_name: str
    model: str
    train_task: str
    method: str
    method_label: str
    n: int
    seed: int
    state: str


class ResultRow(Schema):
    run_id: int
    experiment: int
    experiment_name: str
    model: str
    train_task: str
    eval_task: str
    method: str
    method_label: str
    n: int
    seed: int
    accuracy: Optional[float]
    ece: Optional[float]
    ece_equal_mass: Optional[float]
    brier: Optional[float]
    nll: Optional[float]
    mean_similarity: Optional[float]


class ProvenanceValue(Schema):
    value: Any
    runs: List[int]


class ProvenanceField(Schema):
    field: str
    scope: str = Field(description="Which runs were compared on this field.")
    values: List[ProvenanceValue]


class ProvenanceDiff(Schema):
    fields: List[ProvenanceField] = Field(description="Only the fields in which the compared runs differ.")
    without_provenance: List[int] = Field(description="Runs that recorded no provenance.")


class ComparisonOut(Schema):
    filters: FiltersOut
    runs: List[RunInfo]
    truncated: bool = Field(description="More runs matched than max_runs; narrow the filters.")
    max_runs: int
    models: List[str]
    eval_tasks: List[str]
    n_values: List[int]
    seeds: List[int]
    methods: List[str]
    method_labels: Dict[str, str]
    spread: str = Field(description="The convention of every mean, sd and 95% CI.")
    method_order: List[str]
    ece_bins: int
    min_examples_per_bin: int
    metric_table: Dict[str, Dict[str, Any]] = Field(description="The engine's metric table: per metric its label, "
                                                                "unit, range, bins, resamples and direction.")
    summary: List[Dict[str, Any]] = Field(description="Per (model, eval task, method, N): each metric's mean, sd, "
                                                      "95% CI and points over seeds.")
    icl_baseline: Dict[str, Dict[str, Any]]
    reliability: List[Dict[str, Any]] = Field(description="Reliability bins pooled over seeds, per group.")
    layers: List[Dict[str, Any]] = Field(description="Mean per-layer similarity to ICL, per group.")
    table: List[ResultRow] = Field(description="Every (run, eval task) row of metrics.")
    provenance_diff: ProvenanceDiff


class Agreement(Schema):
    both: int
    only_a: int
    only_b: int
    neither: int


class PairOut(Schema):
    eval_task: str
    n: int
    seed: int
    run_a: RunInfo
    run_b: RunInfo
    n_examples: int
    agreement: Agreement
    mcnemar_p: float = Field(description="McNemar's exact test on the examples only one method got right.")
    accuracy_diff: float = Field(description="Accuracy of A minus B.")
    accuracy_ci: List[float] = Field(description="Paired bootstrap 95% CI of the accuracy difference.")
    ece_diff: Optional[float] = Field(description="ECE of A minus B (null without confidences).")
    ece_ci: Optional[List[float]]
    within_noise: bool
    ece_within_noise: Optional[bool]
    resamples: int
    bootstrap_seed: int
    verdict: str


class Unmatched(Schema):
    eval_task: str
    n: int
    seed: int
    why: str


class PairedOut(Schema):
    a: str
    b: str
    a_label: str
    b_label: str
    pairs: List[PairOut] = Field(description="Per (eval task, N, seed): two runs scored on the same examples.")
    unmatched: List[Unmatched] = Field(description="Cells where no such pair of runs exists, and why.")
    truncated: bool
    max_pairs: int
    resamples: int
    seed: int = Field(description="The bootstrap's seed.")


class Cell(Schema):
    correct: bool
    confidence: Optional[float]
    predicted: str
    method: str


class ExampleRow(Schema):
    index: int
    input: str
    gold: str
    cells: List[Optional[Cell]] = Field(description="One per column; null where the run has no such example.")


class Column(Schema):
    result: int
    run: int
    method: str
    label: str


class ExamplesOut(Schema):
    eval_task: str
    eval_tasks: List[str]
    columns: List[Column]
    columns_truncated: bool
    show: str
    show_label: str
    a: str
    b: str
    total: int = Field(description="Examples of the task, before `show`.")
    items: List[ExampleRow]
    count: int = Field(description="Examples that match `show`.")
    limit: int
    offset: int
    next: Optional[int]


class ExperimentChoice(Schema):
    id: int
    name: str


class FacetsOut(FilterValues):
    experiment: List[ExperimentChoice] = Field(description="Your teams' newest experiments (200 at most).")


# --- routes -------------------------------------------------------------------------------

@router.get("/", response=ComparisonOut, summary="Compare runs across experiments (metrics over seeds)",
            description="The payload of the page's /compare/data.json for the same filters.")
def compare(request, filters: Query[FilterQuery]):
    return cross_experiment.comparison(selection(request, FilterQuery)[1])


@router.get("/paired/", response=PairedOut, summary="Paired statistics of two methods",
            description="Agreement table, exact McNemar and a seeded paired bootstrap of the accuracy and ECE "
                        "differences, per pair of runs scored on the same evaluation examples.")
def paired(request, filters: Query[PairQuery]):
    f, sel = selection(request, PairQuery, required=("a", "b"))
    return cross_experiment.paired(sel, f.a, f.b)


@router.get("/examples/", response=ExamplesOut, summary="Per-example diff: evaluation examples x runs")
def examples(request, filters: Query[ExampleQuery]):
    f, sel = selection(request, ExampleQuery)
    table = cross_experiment.example_table(sel, f.example_task, f.show, f.a, f.b)
    page = LimitOffset().paginate_queryset(table.pop("rows"), LimitOffset.Input(limit=filters.limit,
                                                                                offset=filters.offset), request)
    table.pop("matching")  # = count
    return {**table, **page}


@router.get("/facets/", response=FacetsOut, summary="The values each comparison filter can take")
def facets(request):
    return cross_experiment.facets(request.user)
