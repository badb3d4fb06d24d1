"""Aggregate an experiment's results for the compare charts and tables (JSON-ready)."""
import math
from collections import defaultdict

from ..models import METHOD_CHOICES, METHOD_LABELS, EvalResult, Prediction

METHOD_ORDER = [m for m, _ in METHOD_CHOICES]

# The range each metric can take: confidence intervals are clipped to it.
METRIC_RANGE = {"accuracy": (0.0, 1.0), "ece": (0.0, 1.0), "ece_equal_mass": (0.0, 1.0), "brier": (0.0, 2.0),
                "nll": (0.0, None), "mean_similarity": (-1.0, 1.0)}
# Two-sided 95% quantiles of Student's t, t_{0.975, df}, for df = 1..30; then 40, 60, 120, normal.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042]
# Calibration bins of the engine's ECE and the fewest examples per bin on average below
# which the page warns that ECE is mostly sampling noise.
ECE_BINS = 15
MIN_EXAMPLES_PER_BIN = 10


def t_quantile_975(df):
    if df < 1:
        return None
    if df <= len(T975):
        return T975[df - 1]
    return 2.021 if df <= 40 else 2.000 if df <= 60 else 1.980 if df <= 120 else 1.960


def confidence_interval(mean, std, count, bounds=(None, None)):
    """95% t-interval of the mean over seeds (sample std, ddof=1), clipped to the metric's
    range; None with fewer than two seeds."""
    t = t_quantile_975(count - 1)
    if t is None:
        return None
    half = t * std / math.sqrt(count)
    lo, hi = mean - half, mean + half
    if bounds[0] is not None:
        lo = max(lo, bounds[0])
    if bounds[1] is not None:
        hi = min(hi, bounds[1])
    return [lo, hi]


def _stats(values, bounds=(None, None)):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return {"mean": mean, "std": std, "min": min(vals), "max": max(vals), "values": vals,
            "ci95": confidence_interval(mean, std, len(vals), bounds)}


def _metric(results, name):
    """Stats over seeds of one metric, with each seed's value (for hover and dots)."""
    stats = _stats([getattr(r, name) for r in results], METRIC_RANGE[name])
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


def _order(method):
    return METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)


def compare(experiment):
    """Summary (mean/std over seeds), ICL baseline, reliability, per-layer similarity and the
    table of every done run's metrics."""
    results = list(
        EvalResult.objects.filter(run__experiment=experiment, run__state="done")
        .select_related("run").defer("timings", "run__message", "run__error")  # two queries in all
        .prefetch_related("layers").order_by("run__method", "run__n", "run__seed", "id")
    )
    groups = defaultdict(list)
    for r in results:
        groups[(r.eval_task_name, r.run.method, r.run.n)].append(r)
    summary, reliability, layers, baseline = [], [], [], {}
    for (task, method, n), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][2], _order(kv[0][1]))):
        row = {
            "eval_task": task, "method": method, "method_label": METHOD_LABELS.get(method, method), "n": n,
            "seeds": len(rs),
            # evaluation examples per run (the reliability bins count every scored example)
            "n_examples": round(sum(sum(int(b.get("count") or 0) for b in r.reliability or []) for r in rs) / len(rs)),
            **{m: _metric(rs, m) for m in METRIC_RANGE},
        }
        summary.append(row)
        if method == "icl":
            baseline[f"{task}|{n}"] = {"accuracy": row["accuracy"], "ece": row["ece"]}
        reliability.append({"eval_task": task, "method": method, "n": n,
                            "bins": _merge_reliability([r.reliability for r in rs])})
        per_layer = defaultdict(lambda: ([], []))
        for r in rs:
            for ls in r.layers.all():
                per_layer[ls.layer][0].append(ls.cosine)
                per_layer[ls.layer][1].append(ls.cka)
        if per_layer:
            idx = sorted(per_layer)
            layers.append({
                "eval_task": task, "method": method, "n": n, "layer": idx,
                "cosine": [(_stats(per_layer[i][0]) or {}).get("mean") for i in idx],
                "cka": [(_stats(per_layer[i][1]) or {}).get("mean") for i in idx],
            })
    table = [
        {"run_id": r.run_id, "method": r.run.method, "method_label": METHOD_LABELS.get(r.run.method, r.run.method),
         "n": r.run.n, "seed": r.run.seed, "eval_task": r.eval_task_name, "accuracy": r.accuracy, "ece": r.ece,
         "ece_equal_mass": r.ece_equal_mass, "brier": r.brier, "nll": r.nll, "mean_similarity": r.mean_similarity}
        for r in results
    ]
    return {
        "experiment": experiment.id,
        "eval_tasks": sorted({r.eval_task_name for r in results}),
        "n_values": sorted({r.run.n for r in results}),
        "seeds": sorted({r.run.seed for r in results}),
        "methods": sorted({r.run.method for r in results}, key=_order),
        "method_labels": METHOD_LABELS,
        "method_order": METHOD_ORDER,
        "ece_bins": ECE_BINS,
        "min_examples_per_bin": MIN_EXAMPLES_PER_BIN,
        "summary": summary,
        "icl_baseline": baseline,
        "reliability": reliability,
        "layers": layers,
        "table": table,
    }


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
