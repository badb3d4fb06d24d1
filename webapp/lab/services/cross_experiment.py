"""Comparing runs across experiments (the /compare/ page, its JSON and its exports).

Plain functions over plain values, JSON-ready outputs, no request objects, so the pages
and the REST API call the same code:

- `parse(params)` reads the filters (model, train task, eval task, method, N, seed, state,
  experiment, run) and the paired / per-example choices from a query-string mapping, and
  raises `BadParameters` naming each bad field and its fix.
- `select(user, filters)` the runs of the user's teams that match (`permissions`; an
  explicit experiment or run id outside them raises `NotReadable`, which views answer 404).
- `comparison(selection)` the metrics over seeds grouped by (model, eval task, method, N)
  through `experiment_summary.aggregate` (the one aggregation, the one spread convention), the runs,
  every result row and the provenance diff (`provenance.diff`).
- `paired(selection, a, b)` for two methods: per (eval task, N, seed) pair of runs scored on
  the same evaluation examples, the agreement table, exact McNemar and a seeded paired
  bootstrap (the engine metric table's BOOTSTRAP_RESAMPLES, the engine's default) of the accuracy
  and ECE differences, cached per pair of runs and results versions; a plain verdict when
  the difference is within noise.
- `example_table(selection, ...)` evaluation examples x runs (right/wrong, confidence),
  filtered; `per_example` is one page of it (the API pages it by limit and offset).
"""
import hashlib
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from webapp.teams import permissions
from workers.engine.metric_table import BOOTSTRAP_RESAMPLES
from workers.engine.stats import CONFIDENCE, compare_methods

from ..models import METHOD_CHOICES, METHOD_LABELS, EvalResult, Prediction, Run
from . import cache, provenance
from .experiment_summary import _order, aggregate, result_row

METHODS = [m for m, _ in METHOD_CHOICES]
STATES = [s for s, _ in Run.STATE_CHOICES]
MAX_RUNS = 400  # runs one comparison reads at most (the page says when it holds more)
MAX_PAIRS = 24  # paired comparisons computed for one page
MAX_COLUMNS = 30  # runs side by side in the per-example table
PAGE_SIZE = 50  # examples per page of the per-example table
BOOTSTRAP_SEED = 0
MAX_TEXT = 300  # longest model / task name accepted in a filter
SHOW = {
    "all": "every example",
    "disagree": "runs disagree (some right, some wrong)",
    "a_right_b_wrong": "A right and B wrong",
    "a_wrong_b_right": "A wrong and B right",
    "all_wrong": "every run wrong",
    "all_right": "every run right",
}
LIST_FIELDS = ("model", "train_task", "eval_task", "method", "n", "seed", "state", "experiment", "run")
INT_FIELDS = ("n", "seed", "experiment", "run")
KNOWN = set(LIST_FIELDS) | {"a", "b", "show", "page", "example_task"}


class BadParameters(ValueError):
    """Query parameters that cannot be used: {field: message naming the fix}."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class NotReadable(LookupError):
    """An explicit experiment or run id that is not in the user's teams (or does not exist)."""


@dataclass
class Filters:
    model: list = field(default_factory=list)
    train_task: list = field(default_factory=list)
    eval_task: list = field(default_factory=list)
    method: list = field(default_factory=list)
    n: list = field(default_factory=list)
    seed: list = field(default_factory=list)
    state: list = field(default_factory=lambda: [Run.DONE])
    experiment: list = field(default_factory=list)
    run: list = field(default_factory=list)
    a: str = ""
    b: str = ""
    show: str = "all"
    page: int = 1
    example_task: str = ""
    ignored: list = field(default_factory=list)  # unknown parameter names (named on the page)

    def query(self, **changes):
        """The query string of these filters (with `changes`), for links that keep them."""
        from urllib.parse import urlencode

        d = {**asdict(self), **changes}
        pairs = [(k, v) for k in LIST_FIELDS for v in d[k]]
        if d["state"] == [Run.DONE]:
            pairs = [(k, v) for k, v in pairs if k != "state"]
        pairs += [(k, d[k]) for k in ("a", "b", "example_task") if d[k]]
        if d["show"] != "all":
            pairs.append(("show", d["show"]))
        if d["page"] != 1:
            pairs.append(("page", d["page"]))
        return urlencode(pairs)

    def as_dict(self):
        return {k: v for k, v in asdict(self).items() if k != "ignored"}


def _values(params, name):
    if hasattr(params, "getlist"):
        raw = params.getlist(name)
    else:
        raw = params.get(name, [])
        raw = raw if isinstance(raw, (list, tuple)) else [raw]
    return [str(v).strip() for v in raw if str(v).strip() != ""]


def parse(params):
    """Filters from a query-string mapping (a QueryDict, or a dict of values or lists).
    Lists repeat the parameter (method=icl&method=sft) or separate values with commas
    (method=icl,sft) for N, seed, method, state and ids. Raises BadParameters."""
    f, errors = Filters(), {}
    keys = params.keys() if hasattr(params, "keys") else []
    f.ignored = sorted(k for k in keys if k not in KNOWN)
    for name in LIST_FIELDS:
        values = _values(params, name)
        if name in INT_FIELDS or name in ("method", "state"):
            values = [p.strip() for v in values for p in v.split(",") if p.strip()]
        if name in INT_FIELDS:
            ints = []
            for v in values:
                try:
                    ints.append(int(v))
                except ValueError:
                    what = {"n": "N as an integer, e.g. n=4", "seed": "a seed as an integer, e.g. seed=0",
                            "experiment": "an experiment id, e.g. experiment=12", "run": "a run id, e.g. run=31"}[name]
                    errors[name] = f"{v[:40]!r} is not a whole number; give {what}"
                    break
            if name == "n" and any(i < 1 for i in ints):
                errors[name] = "N is at least 1"
            values = sorted(set(ints))
        elif name == "method":
            bad = [v for v in values if v not in METHODS]
            if bad:
                errors[name] = f"unknown method {bad[0][:40]!r}; choose from {', '.join(METHODS)}"
        elif name == "state":
            bad = [v for v in values if v not in STATES]
            if bad:
                errors[name] = f"unknown state {bad[0][:40]!r}; choose from {', '.join(STATES)}"
        elif any(len(v) > MAX_TEXT for v in values):
            errors[name] = f"a value longer than {MAX_TEXT} characters; give the name as listed in the filter"
        if values or name != "state":
            setattr(f, name, list(dict.fromkeys(values)))
    for name in ("a", "b"):
        value = (_values(params, name) or [""])[0]
        if value and value not in METHODS:
            errors[name] = f"unknown method {value[:40]!r}; choose from {', '.join(METHODS)}"
        setattr(f, name, value)
    if f.a and f.a == f.b and "a" not in errors:
        errors["b"] = "method B is the same as A; choose two different methods to compare"
    show = (_values(params, "show") or ["all"])[0]
    if show not in SHOW:
        errors["show"] = f"unknown filter {show[:40]!r}; choose from {', '.join(SHOW)}"
    elif show.startswith("a_") and not (f.a and f.b):
        errors["show"] = "this filter compares methods A and B: choose both (a=..., b=...)"
    f.show = show if show in SHOW else "all"
    page = (_values(params, "page") or ["1"])[0]
    try:
        f.page = int(page)
        if f.page < 1:
            raise ValueError
    except ValueError:
        errors["page"] = f"{page[:20]!r} is not a page number; pages start at 1"
    example_task = (_values(params, "example_task") or [""])[0]
    if len(example_task) > MAX_TEXT:
        errors["example_task"] = f"longer than {MAX_TEXT} characters; choose an evaluation task listed on the page"
    f.example_task = example_task[:MAX_TEXT]
    if errors:
        raise BadParameters(errors)
    return f


# --- selecting runs ---------------------------------------------------------

@dataclass
class Selection:
    filters: Filters
    runs: list  # Run objects with experiment (and its train task) selected
    results: list  # EvalResults of the done runs, with run, experiment and layers
    truncated: bool


def select(user, f):
    """The runs of the user's teams that match the filters, at most MAX_RUNS (a fixed number
    of queries). An explicit experiment or run id the user cannot read raises NotReadable."""
    experiments = permissions.readable_experiments(user)
    if f.experiment:
        found = set(experiments.filter(pk__in=f.experiment).values_list("pk", flat=True))
        if found != set(f.experiment):
            raise NotReadable(f"no experiment {sorted(set(f.experiment) - found)[0]} in your teams")
    runs = Run.objects.filter(experiment__in=experiments)
    if f.run:
        found = set(runs.filter(pk__in=f.run).values_list("pk", flat=True))
        if found != set(f.run):
            raise NotReadable(f"no run {sorted(set(f.run) - found)[0]} in your teams")
        runs = runs.filter(pk__in=f.run)
    if f.experiment:
        runs = runs.filter(experiment_id__in=f.experiment)
    if f.model:
        runs = runs.filter(experiment__model_name__in=f.model)
    if f.train_task:
        runs = runs.filter(experiment__train_task__name__in=f.train_task)
    if f.eval_task:
        runs = runs.filter(pk__in=EvalResult.objects.filter(eval_task_name__in=f.eval_task).values("run_id"))
    for name, column in (("method", "method"), ("n", "n"), ("seed", "seed"), ("state", "state")):
        if getattr(f, name):
            runs = runs.filter(**{f"{column}__in": getattr(f, name)})
    runs = list(runs.select_related("experiment", "experiment__train_task")
                .defer("experiment__config", "experiment__train_task__description", "message", "error",
                       "experiment__train_task__input_template", "training", "key")
                .order_by("experiment_id", "method", "n", "seed", "id")[:MAX_RUNS + 1])
    truncated = len(runs) > MAX_RUNS
    runs = runs[:MAX_RUNS]
    by_id = {r.id: r for r in runs}
    results = EvalResult.objects.filter(run_id__in=[r.id for r in runs if r.state == Run.DONE])
    if f.eval_task:
        results = results.filter(eval_task_name__in=f.eval_task)
    results = list(results.defer("timings").prefetch_related("layers").order_by("run_id", "id"))
    for r in results:
        r.run = by_id[r.run_id]  # the run (and its experiment) already loaded
    return Selection(f, runs, results, truncated)


def _run_info(r):
    return {"id": r.id, "experiment": r.experiment_id, "experiment_name": str(r.experiment),
            "model": r.experiment.model_name, "train_task": r.experiment.train_task.name, "method": r.method,
            "method_label": METHOD_LABELS.get(r.method, r.method), "n": r.n, "seed": r.seed, "state": r.state}


def result_rows(results):
    """Every (run, eval task) metric row with the run's experiment, model and train task."""
    return [{**result_row(r), "experiment": r.run.experiment_id, "experiment_name": str(r.run.experiment),
             "model": r.run.experiment.model_name, "train_task": r.run.experiment.train_task.name} for r in results]


def comparison(selection):
    """The comparison's payload (JSON-ready): runs, the metrics over seeds grouped by (model,
    eval task, method, N), reliability and per-layer similarity, every result row, and the
    provenance fields in which the compared runs differ."""
    done = [r for r in selection.runs if r.state == Run.DONE]
    return {
        "filters": selection.filters.as_dict(),
        "runs": [_run_info(r) for r in selection.runs],
        "truncated": selection.truncated, "max_runs": MAX_RUNS,
        "models": sorted({r.experiment.model_name for r in done}),
        **aggregate(selection.results, model_of=lambda r: r.run.experiment.model_name),
        "table": result_rows(selection.results),
        "provenance_diff": provenance.diff(done),
    }


def facets(user):
    """The values each filter can take among the user's readable runs (the filter form's choices)."""
    experiments = permissions.readable_experiments(user)
    runs = Run.objects.filter(experiment__in=experiments).order_by()
    return {
        "model": sorted(set(experiments.values_list("model_name", flat=True))),
        "train_task": sorted(set(experiments.values_list("train_task__name", flat=True))),
        "eval_task": sorted(set(EvalResult.objects.filter(run__experiment__in=experiments).order_by()
                                .values_list("eval_task_name", flat=True).distinct())),
        "method": sorted(set(runs.values_list("method", flat=True).distinct()), key=_order),
        "n": sorted(set(runs.values_list("n", flat=True).distinct())),
        "seed": sorted(set(runs.values_list("seed", flat=True).distinct())),
        "state": STATES,
        "experiment": [{"id": pk, "name": name or f"Experiment {pk}"} for pk, name in
                       experiments.order_by("-created_at", "-id").values_list("pk", "name")[:200]],
    }


# --- paired statistics ------------------------------------------------------

def _predictions(result_ids):
    """{result id: [(index, input, gold, correct, confidence), ...] in index order} (one query)."""
    out = defaultdict(list)
    rows = (Prediction.objects.filter(result_id__in=result_ids).order_by("result_id", "index", "id")
            .values_list("result_id", "index", "input", "gold", "correct", "confidence", "predicted"))
    for rid, index, inp, gold, correct, conf, predicted in rows:
        out[rid].append((index, inp, gold, correct, conf, predicted))
    return out


def eval_set_signature(preds):
    """Which examples a run was scored on: a digest of (index, input, gold) in index order."""
    blob = json.dumps([[p[0], p[1], p[2]] for p in preds], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha1(blob.encode()).hexdigest()


def _version(result):
    exp = result.run.experiment
    return exp.cache_key("paired", result.id).replace(":", "-")


def _verdict(stats, a, b):
    la, lb = METHOD_LABELS.get(a, a), METHOD_LABELS.get(b, b)
    lo, hi = stats["accuracy_ci"]
    alpha = 1 - CONFIDENCE
    if stats["within_noise"]:
        acc = (f"Accuracy: within noise (difference {stats['accuracy_diff']:+.3f}; 95% CI [{lo:+.3f}, {hi:+.3f}] "
               f"{'contains 0' if lo <= 0 <= hi else 'excludes 0'}; McNemar p = {stats['mcnemar_p']:.3g}"
               f"{' ≥ ' + format(alpha, 'g') if stats['mcnemar_p'] >= alpha else ''}).")
    else:
        better = la if stats["accuracy_diff"] > 0 else lb
        acc = (f"Accuracy: {better} is more accurate, beyond noise (difference {stats['accuracy_diff']:+.3f}; "
               f"95% CI [{lo:+.3f}, {hi:+.3f}]; McNemar p = {stats['mcnemar_p']:.3g}).")
    if stats["ece_ci"] is None:
        return acc + " ECE: no confidences (generation task)."
    elo, ehi = stats["ece_ci"]
    if elo <= 0 <= ehi:
        ece = f"ECE: within noise (difference {stats['ece_diff']:+.3f}; 95% CI [{elo:+.3f}, {ehi:+.3f}] contains 0)."
    else:
        better = la if stats["ece_diff"] < 0 else lb
        ece = (f"ECE: {better} is better calibrated, beyond noise (difference {stats['ece_diff']:+.3f}; "
               f"95% CI [{elo:+.3f}, {ehi:+.3f}]).")
    return acc + " " + ece


def paired_stats(preds_a, preds_b, a, b):
    """The paired statistics of two runs scored on the same examples (JSON-ready)."""
    correct_a, correct_b = [p[3] for p in preds_a], [p[3] for p in preds_b]
    conf_a = [p[4] for p in preds_a]
    conf_b = [p[4] for p in preds_b]
    with_conf = all(c is not None for c in conf_a + conf_b)
    stats = compare_methods(correct_a, conf_a if with_conf else None, correct_b, conf_b if with_conf else None,
                            seed=BOOTSTRAP_SEED, resamples=BOOTSTRAP_RESAMPLES)
    stats["ece_within_noise"] = None if stats["ece_ci"] is None else stats["ece_ci"][0] <= 0 <= stats["ece_ci"][1]
    stats["accuracy_ci"] = list(stats["accuracy_ci"])
    stats["ece_ci"] = None if stats["ece_ci"] is None else list(stats["ece_ci"])
    stats["verdict"] = _verdict(stats, a, b)
    stats["n_examples"] = len(correct_a)
    stats["bootstrap_seed"] = stats.pop("seed")  # "seed" of a pair is the runs' seed
    return stats


def paired(selection, a, b):
    """For methods A and B: every pair of done runs with the same eval task, N and seed that
    were scored on identical evaluation examples (a run of the same experiment preferred),
    with their paired statistics (cached per pair of runs and results versions), and the
    (eval task, N, seed) cells where no such pair exists. At most MAX_PAIRS pairs."""
    if not (a and b):
        return {"a": a, "b": b, "pairs": [], "unmatched": [], "truncated": False}
    by_key = defaultdict(lambda: {a: [], b: []})
    for r in selection.results:
        if r.run.method in (a, b):
            by_key[(r.eval_task_name, r.run.n, r.run.seed)][r.run.method].append(r)
    wanted = [(k, v) for k, v in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2]))]
    preds = _predictions([r.id for _, v in wanted for rs in v.values() for r in rs])
    pairs, unmatched, truncated = [], [], False
    for (task, n, seed), group in wanted:
        found = False
        for ra in group[a]:
            sig = eval_set_signature(preds.get(ra.id, []))
            same_set = [rb for rb in group[b] if preds.get(rb.id) and eval_set_signature(preds[rb.id]) == sig]
            same_exp = [rb for rb in same_set if rb.run.experiment_id == ra.run.experiment_id]
            for rb in same_exp or same_set:
                if not preds.get(ra.id):
                    continue
                if len(pairs) >= MAX_PAIRS:
                    truncated = True
                    break
                key = f"lab:paired:v2:{_version(ra)}:{_version(rb)}:{BOOTSTRAP_RESAMPLES}:{BOOTSTRAP_SEED}"
                stats = cache.get(key)
                if not isinstance(stats, dict):
                    stats = paired_stats(preds[ra.id], preds[rb.id], a, b)
                    cache.put(key, stats)
                found = True
                pairs.append({**stats, "eval_task": task, "n": n, "seed": seed, "run_a": _run_info(ra.run),
                              "run_b": _run_info(rb.run)})
        if not found:
            why = ("no run of " + (METHOD_LABELS.get(a, a) if not group[a] else METHOD_LABELS.get(b, b))
                   if not (group[a] and group[b]) else "the runs were scored on different evaluation examples")
            unmatched.append({"eval_task": task, "n": n, "seed": seed, "why": why})
    return {"a": a, "b": b, "a_label": METHOD_LABELS.get(a, a), "b_label": METHOD_LABELS.get(b, b),
            "pairs": pairs, "unmatched": unmatched, "truncated": truncated, "max_pairs": MAX_PAIRS,
            "resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED}


# --- per example ------------------------------------------------------------

def _column_label(run, varying):
    parts = [METHOD_LABELS.get(run.method, run.method)]
    if "n" in varying:
        parts.append(f"N={run.n}")
    if "seed" in varying:
        parts.append(f"seed {run.seed}")
    if "experiment" in varying:
        parts.append(f"#{run.experiment_id}")
    if "model" in varying:
        parts.append(run.experiment.model_name)
    return " · ".join(parts)


def _keep(cells, show, a, b):
    known = [c for c in cells if c is not None]
    if show == "all":
        return True
    if not known:
        return False
    right = [c["correct"] for c in known]
    if show == "disagree":
        return any(right) and not all(right)
    if show == "all_wrong":
        return not any(right)
    if show == "all_right":
        return all(right)
    of_a = [c["correct"] for c in known if c["method"] == a]
    of_b = [c["correct"] for c in known if c["method"] == b]
    if not (of_a and of_b):
        return False
    if show == "a_right_b_wrong":
        return all(of_a) and not any(of_b)
    return not any(of_a) and all(of_b)  # a_wrong_b_right


def default_example_task(results, tasks, a="", b=""):
    """The per-example view's task when none is chosen: the first on which every chosen
    paired method (A, B) has a result, so that their columns are not empty; else the first."""
    chosen = [m for m in (a, b) if m]
    ran = [{r.eval_task_name for r in results if r.run.method == m} for m in chosen]
    both = [t for t in tasks if all(t in of for of in ran)]
    return both[0] if both else (tasks[0] if tasks else "")


def example_table(selection, eval_task="", show="all", a="", b=""):
    """Evaluation examples x runs on one evaluation task (the first one when not given): each
    cell right/wrong with the prediction and its confidence; rows keyed by (index, input,
    gold), so runs scored on other examples leave gaps. `show` filters the rows (SHOW; with
    several runs of A or B, "A right" means every run of A got it right). Every matching row
    is in "rows"; `per_example` cuts it into the page's pages, the API by limit and offset."""
    tasks = sorted({r.eval_task_name for r in selection.results})
    task = eval_task if eval_task in tasks else default_example_task(selection.results, tasks, a, b)
    results = sorted((r for r in selection.results if r.eval_task_name == task),
                     key=lambda r: (_order(r.run.method), r.run.n, r.run.seed, r.run.experiment_id, r.run_id))
    columns_truncated = len(results) > MAX_COLUMNS
    results = results[:MAX_COLUMNS]
    varying = {k for k, get in (("n", lambda r: r.run.n), ("seed", lambda r: r.run.seed),
                                ("experiment", lambda r: r.run.experiment_id),
                                ("model", lambda r: r.run.experiment.model_name))
               if len({get(r) for r in results}) > 1}
    columns = [{"result": r.id, "run": r.run_id, "method": r.run.method,
                "label": _column_label(r.run, varying)} for r in results]
    preds = _predictions([r.id for r in results])
    rows = {}
    for col, r in enumerate(results):
        for index, inp, gold, correct, conf, predicted in preds.get(r.id, []):
            row = rows.setdefault((index, inp, gold), {"index": index, "input": inp, "gold": gold,
                                                       "cells": [None] * len(results)})
            row["cells"][col] = {"correct": correct, "confidence": conf, "predicted": predicted,
                                 "method": r.run.method}
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (k[0], k[1], k[2]))]
    kept = [row for row in ordered if _keep(row["cells"], show, a, b)]
    return {"eval_task": task, "eval_tasks": tasks, "columns": columns, "columns_truncated": columns_truncated,
            "show": show, "show_label": SHOW.get(show, show), "a": a, "b": b,
            "total": len(ordered), "matching": len(kept), "rows": kept}


def per_example(selection, eval_task="", show="all", a="", b="", page=1):
    """`example_table`, one page of PAGE_SIZE rows ("examples")."""
    table = example_table(selection, eval_task, show, a, b)
    kept = table.pop("rows")
    pages = max(1, -(-len(kept) // PAGE_SIZE))
    page = min(max(1, page), pages)
    return {**table, "page": page, "pages": pages, "page_size": PAGE_SIZE,
            "examples": kept[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]}
