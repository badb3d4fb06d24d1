"""Aggregate an experiment's results for the compare charts and tables (JSON-ready).

Spread over seeds: `workers.engine.stats.spread` (sample sd, ddof=1, and a 95% t-interval
that the engine clips to the metric's range), the one convention of the CLI, the pages and
the exports; one seed has no spread (0, no interval). Every table and chart caption says so
(SPREAD_CAPTION). The metrics, their labels, ranges and bins are the engine's metric table,
served to the charts' scripts as "metric_table"."""
from collections import defaultdict

from workers.engine import metric_table
from workers.engine.stats import SPREAD_CONVENTION, spread

from ..models import METHOD_CHOICES, METHOD_LABELS, AdapterOverlap, EvalResult, Prediction

METHOD_ORDER = [m for m, _ in METHOD_CHOICES]
SPREAD_CAPTION = SPREAD_CONVENTION.split(";")[0]

RUN_METRICS = metric_table.RUN_METRICS  # one number per run and evaluation task, in the table's order


def _stats(values, metric):
    """Mean, sample sd and the 95% t-interval over seeds of one metric of the engine's metric
    table: `stats.spread` as the CLI calls it (it clips to the metric's range), with the
    seeds' values, min and max."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {**spread(vals, metric=metric).summary(), "min": min(vals), "max": max(vals), "values": vals}


def _metric(results, name):
    """Stats over seeds of one metric, with each seed's value (for hover and dots)."""
    stats = _stats([getattr(r, name) for r in results], name)
    if stats is not None:
        stats["points"] = [[r.run.seed, getattr(r, name)] for r in results if getattr(r, name) is not None]
    return stats


def _merge_reliability(lists):
    """Count-weighted average of reliability bins over seeds."""
    acc = {}
    for bins in lists:
        for b in bins or []:
            key = (round(float(b.get("bin_lower", 0)), 6), round(float(b.get("bin_upper", 0)), 6))
            a = acc.setdefault(key, [0.0, 0.0, 0])
            c = int(b.get("count") or 0)
            a[0] += float(b.get("confidence") or 0) * c
            a[1] += float(b.get("accuracy") or 0) * c
            a[2] += c
    return [
        {"bin_lower": lo, "bin_upper": hi, "confidence": s[0] / s[2] if s[2] else None,
         "accuracy": s[1] / s[2] if s[2] else None, "count": s[2]}
        for (lo, hi), s in sorted(acc.items())
    ]


OVERLAP_CAPTION = (
    "LoRA subspace overlap between the adapters two methods trained on the same N examples with the same "
    "seed: for each adapted module, ‖U_aᵀ U_b‖²_F / r, where U holds the top-r left singular vectors of "
    "the module's lora_B matrix, averaged over modules, then over seeds. 1 = identical subspaces, 0 = "
    "orthogonal; two random r-dimensional subspaces of the module's output space (dimension d) give about r / d.")


def adapter_overlap(experiment):
    """The stored overlaps (services/overlaps.py), one entry per method pair and N: the mean
    over seeds with each seed's value, and the chance level r / d (one query)."""
    groups = defaultdict(list)
    for o in AdapterOverlap.objects.filter(experiment=experiment).order_by("n", "seed", "id"):
        groups[(o.n, o.method_a, o.method_b)].append(o)
    out = []
    for (n, a, b), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], _order(kv[0][1]), _order(kv[0][2]))):
        chance = [o.random for o in rows if o.random is not None]
        out.append({"n": n, "a": a, "b": b, "mean": sum(o.mean for o in rows) / len(rows), "seeds": len(rows),
                    "points": [[o.seed, o.mean] for o in rows],
                    "random": sum(chance) / len(chance) if chance else None})
    return out


def _order(method):
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def result_row(r):
    """One run's metrics on one evaluation task (a row of the table and of the exports)."""
    return {"run_id": r.run_id, "method": r.run.method, "method_label": METHOD_LABELS.get(r.run.method, r.run.method),
            "n": r.run.n, "seed": r.run.seed, "eval_task": r.eval_task_name,
            **{m: getattr(r, m) for m in RUN_METRICS}}


def aggregate(results, model_of=None):
    """Mean, sd and 95% CI over seeds of every metric, merged reliability bins and mean
    per-layer similarity, grouped by (model, eval task, method, N): the one aggregation of
    an experiment's compare section and of the cross-experiment comparison. `results`:
    EvalResults with their run (select_related) and layers (prefetch_related); `model_of(r)`
    names a result's model (None: one experiment, one model, rows carry no model)."""
    groups = defaultdict(list)
    for r in results:
        groups[(model_of(r) if model_of else None, r.eval_task_name, r.run.method, r.run.n)].append(r)
    summary, reliability, layers, baseline = [], [], [], {}
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1], kv[0][3], _order(kv[0][2])))
    for (model, task, method, n), rs in ordered:
        where = {"model": model} if model_of else {}
        row = {
            **where, "eval_task": task, "method": method, "method_label": METHOD_LABELS.get(method, method), "n": n,
            "seeds": len(rs),
            # evaluation examples per run (the reliability bins count every scored example)
            "n_examples": round(sum(sum(int(b.get("count") or 0) for b in r.reliability or []) for r in rs) / len(rs)),
            **{m: _metric(rs, m) for m in RUN_METRICS},
        }
        summary.append(row)
        if method == "icl":
            key = f"{task}|{n}" if not model_of else f"{model}|{task}|{n}"
            baseline[key] = {"accuracy": row["accuracy"], "ece": row["ece"]}
        reliability.append({**where, "eval_task": task, "method": method, "n": n,
                            "bins": _merge_reliability([r.reliability for r in rs])})
        per_layer = defaultdict(lambda: ([], []))
        for r in rs:
            for ls in r.layers.all():
                per_layer[ls.layer][0].append(ls.cosine)
                per_layer[ls.layer][1].append(ls.cka)
        if per_layer:
            idx = sorted(per_layer)
            layers.append({
                **where, "eval_task": task, "method": method, "n": n, "layer": idx,
                "cosine": [(_stats(per_layer[i][0], "cosine") or {}).get("mean") for i in idx],
                "cka": [(_stats(per_layer[i][1], "cka") or {}).get("mean") for i in idx],
            })
    return {
        "eval_tasks": sorted({r.eval_task_name for r in results}),
        "n_values": sorted({r.run.n for r in results}),
        "seeds": sorted({r.run.seed for r in results}),
        "methods": sorted({r.run.method for r in results}, key=_order),
        "method_labels": METHOD_LABELS,
        "spread": SPREAD_CAPTION,
        "method_order": METHOD_ORDER,
        "ece_bins": metric_table.ECE_BINS,
        "min_examples_per_bin": metric_table.MIN_EXAMPLES_PER_BIN,
        "metric_table": metric_table.served(),
        "summary": summary,
        "icl_baseline": baseline,
        "reliability": reliability,
        "layers": layers,
    }


def experiment_results(experiment):
    """Every finished run's results of one experiment, in the order the tables use (two queries)."""
    return list(
        EvalResult.objects.filter(run__experiment=experiment, run__state="done")
        .select_related("run").defer("timings", "run__message", "run__error", "run__provenance")
        .prefetch_related("layers").order_by("run__method", "run__n", "run__seed", "id")
    )


def compare(experiment):
    """Summary (mean/std over seeds), ICL baseline, reliability, per-layer similarity and the
    table of every done run's metrics."""
    results = experiment_results(experiment)
    return {"experiment": experiment.id, **aggregate(results), "table": [result_row(r) for r in results],
            "adapter_overlap": adapter_overlap(experiment), "overlap_caption": OVERLAP_CAPTION}


def per_example(experiment, eval_task, n, seed):
    """Which eval examples each method gets right or wrong, with confidences (one query)."""
    preds = (
        Prediction.objects.filter(result__run__experiment=experiment, result__eval_task_name=eval_task,
                                  result__run__n=n, result__run__seed=seed, result__run__state="done")
        .order_by("index", "id")
        .values_list("index", "input", "gold", "predicted", "correct", "confidence", "label_probs",
                     "result__run__method")
    )
    rows, methods = {}, set()
    for index, inp, gold, predicted, correct, confidence, label_probs, method in preds:
        methods.add(method)
        row = rows.setdefault(index, {"index": index, "input": inp, "gold": gold, "by_method": {}})
        row["by_method"][method] = {"predicted": predicted, "correct": correct, "confidence": confidence,
                                    "label_probs": label_probs}
    return {"eval_task": eval_task, "n": n, "seed": seed, "methods": sorted(methods, key=_order),
            "method_labels": METHOD_LABELS, "examples": [rows[i] for i in sorted(rows)]}
