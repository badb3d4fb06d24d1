"""Downloads of results: every metric and every per-example prediction as CSV or JSON, the
metrics over seeds as CSV, and the paper's table as LaTeX or Markdown
(`workers/engine/tables.py`), for one experiment or for any comparison.

`export(results, what, stem)` returns an `Export` (bytes, content type, file name) and
knows nothing of requests; `for_experiment` and `for_comparison` name the file and its
metadata the one way the pages and the REST API both use, and views wrap the result in an
attachment response (`views.comparisons.attachment`). Every CSV cell goes
through `tables.csv_safe`, so a cell that begins with = + - @ never runs as a formula.
"""
import csv
import hashlib
import io
import json
from dataclasses import dataclass

from workers.engine.stats import SPREAD_CONVENTION
from workers.engine.tables import csv_safe, latex_table, markdown_table

from ..models import Prediction
from . import experiment_summary
from .experiment_summary import RUN_METRICS, _order, aggregate
from .cross_experiment import result_rows

METRICS = list(RUN_METRICS)  # the engine's metric table: one column per run metric
RUN_COLUMNS = ["experiment", "experiment_name", "model", "train_task", "eval_task", "method", "method_label", "n",
               "seed", "run_id"]
METRIC_COLUMNS = RUN_COLUMNS + METRICS
SUMMARY_COLUMNS = (["model", "eval_task", "method", "method_label", "n", "seeds"]
                   + [f"{m}_{s}" for m in METRICS for s in ("mean", "std", "ci95_low", "ci95_high")])
PREDICTION_COLUMNS = RUN_COLUMNS + ["index", "input", "gold", "predicted", "correct", "confidence", "label_probs"]
KINDS = {
    "metrics.csv": ("text/csv; charset=utf-8", "every run's metrics on every evaluation task"),
    "metrics.json": ("application/json", "the same, with the mean, sd and 95% CI over seeds"),
    "summary.csv": ("text/csv; charset=utf-8", "mean, sd and 95% CI over seeds per (model, eval task, method, N)"),
    "predictions.csv": ("text/csv; charset=utf-8", "every evaluation example's prediction by every run"),
    "predictions.json": ("application/json", "the same as JSON"),
    "table.tex": ("application/x-tex; charset=utf-8", "the paper's table (acc / ECE, mean ± sd over seeds)"),
    "table.md": ("text/markdown; charset=utf-8", "the same table in Markdown"),
}


class UnknownExport(ValueError):
    pass


@dataclass
class Export:
    content: bytes
    content_type: str
    filename: str


def experiment_results(experiment):
    """A finished experiment's results, each with its run and the experiment attached (two queries)."""
    results = experiment_summary.experiment_results(experiment)
    for r in results:
        r.run.experiment = experiment
    return results


def _csv(columns, rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_safe(_cell(row.get(c))) for c in columns])
    return out.getvalue().encode("utf-8")


def _cell(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else value


def _sorted_rows(results):
    rows = result_rows(results)
    rows.sort(key=lambda r: (r["model"], r["train_task"], r["eval_task"], _order(r["method"]), r["n"], r["seed"],
                             r["experiment"], r["run_id"]))
    return rows


def summary_rows(results):
    """One row per (model, eval task, method, N): each metric's mean, sd and 95% CI over seeds."""
    out = []
    for s in aggregate(results, model_of=lambda r: r.run.experiment.model_name)["summary"]:
        row = {k: s[k] for k in ("model", "eval_task", "method", "method_label", "n", "seeds")}
        for m in METRICS:
            stat = s.get(m) or {}
            ci = stat.get("ci95") or [None, None]
            row.update({f"{m}_mean": stat.get("mean"), f"{m}_std": stat.get("std") if stat.get("ci95") else None,
                        f"{m}_ci95_low": ci[0], f"{m}_ci95_high": ci[1]})
        out.append(row)
    return out


def prediction_rows(results):
    """Every prediction of the given results, with its run's identity (one query)."""
    info = {r.id: {k: v for k, v in row.items() if k in RUN_COLUMNS} for r, row in zip(results, result_rows(results))}
    preds = (Prediction.objects.filter(result_id__in=list(info)).order_by("result_id", "index", "id")
             .values_list("result_id", "index", "input", "gold", "predicted", "correct", "confidence", "label_probs"))
    rows = []
    for rid, index, inp, gold, predicted, correct, conf, probs in preds.iterator(chunk_size=5000):
        rows.append({**info[rid], "index": index, "input": inp, "gold": gold, "predicted": predicted,
                     "correct": correct, "confidence": conf, "label_probs": probs})
    rows.sort(key=lambda r: (r["model"], r["eval_task"], _order(r["method"]), r["n"], r["seed"], r["run_id"],
                             r["index"]))
    return rows


def paper_input(results):
    """The rows `tables.latex_table` / `markdown_table` take; the model is named in the row
    label only when the results hold several models. Methods in the lab's order."""
    rows = _sorted_rows(results)
    several = len({r["model"] for r in rows}) > 1
    rows.sort(key=lambda r: _order(r["method"]))  # stable: the columns follow the method order
    return [{"method": r["method"], "n": r["n"], "seed": r["seed"], "eval_task": r["eval_task"],
             "train_task": f"{r['model']}: {r['train_task']}" if several else r["train_task"],
             "accuracy": r["accuracy"], "ece": r["ece"]} for r in rows]


def check_kind(what):
    """Raise UnknownExport (its message names the choices) unless `what` is a key of KINDS."""
    if what not in KINDS:
        raise UnknownExport(f"unknown export {what[:40]!r}; choose one of {', '.join(KINDS)}")


def for_experiment(experiment, what):
    """An experiment's download `what` (its finished runs), as the page and the API serve it."""
    check_kind(what)
    return export(experiment_results(experiment), what, f"experiment-{experiment.pk}",
                  meta={"experiment": experiment.pk, "name": str(experiment)})


def for_comparison(selection, what):
    """A comparison's download `what`, named by a digest of its filters (the same name for the
    same filters, wherever it is downloaded)."""
    check_kind(what)
    filters = selection.filters
    stem = "comparison-" + hashlib.sha1(filters.query(page=1).encode()).hexdigest()[:8]
    return export(selection.results, what, stem, meta={"filters": filters.as_dict()})


def export(results, what, stem, meta=None):
    """The download `what` (a key of KINDS) of `results` (EvalResults with run.experiment and
    its train task), named `<stem>-<what>`. `meta`: extra JSON fields (e.g. the filters)."""
    check_kind(what)
    content_type = KINDS[what][0]
    if what == "metrics.csv":
        body = _csv(METRIC_COLUMNS, _sorted_rows(results))
    elif what == "summary.csv":
        body = _csv(SUMMARY_COLUMNS, summary_rows(results))
    elif what == "metrics.json":
        agg = aggregate(results, model_of=lambda r: r.run.experiment.model_name)
        body = json.dumps({**(meta or {}), "spread": SPREAD_CONVENTION, "metric_table": agg["metric_table"],
                           "runs": _sorted_rows(results), "summary": agg["summary"]},
                          indent=1, ensure_ascii=False).encode("utf-8")
    elif what == "predictions.csv":
        body = _csv(PREDICTION_COLUMNS, prediction_rows(results))
    elif what == "predictions.json":
        body = json.dumps({**(meta or {}), "predictions": prediction_rows(results)}, ensure_ascii=False).encode()
    elif what == "table.tex":
        body = latex_table(paper_input(results)).encode("utf-8") if results else b"% no finished runs\n"
    else:
        body = markdown_table(paper_input(results)).encode("utf-8") if results else b"No finished runs.\n"
    return Export(body, content_type, f"{stem}-{what}")
