"""The engine's one metric table: the CLI's interval is clipped to the metric's range by
`stats.spread` itself, ECE is binned and the paired bootstrap resampled with the table's
numbers, the CLI table is labelled from it, and the charts' scripts and templates restate
none of it. (The web side of the same numbers: tests/web/test_metric_conventions.py.)"""
import math
from pathlib import Path

import numpy as np
import pytest

from workers.engine import metric_table
from workers.engine.display import summary_table
from workers.engine.metrics import classification_metrics
from workers.engine.runner import aggregate
from workers.engine.stats import paired_bootstrap, spread

ROOT = Path(__file__).resolve().parents[1]
ACCURACIES = [0.9, 1.0, 0.95]  # mean 0.95, sd 0.05: the unclipped t-interval is [0.826, 1.074]
HALF = 4.302652729749462 * 0.05 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n), from a table


def test_spread_clips_to_the_named_metrics_range():
    raw = spread(ACCURACIES)
    assert (raw.ci_low, raw.ci_high) == (pytest.approx(0.95 - HALF), pytest.approx(0.95 + HALF))
    assert raw.ci_high > 1.07  # what the CLI printed before: an accuracy above 1
    clipped = spread(ACCURACIES, metric="accuracy")
    assert (clipped.ci_low, clipped.ci_high) == (pytest.approx(0.95 - HALF), 1.0)
    assert spread([0.0, 0.0, 0.05], metric="ece").ci_low == 0.0
    assert spread([0.1, 0.5, 0.9], metric="nll").ci_high > 1  # open above: not clipped
    with pytest.raises(ValueError, match="either a metric name or explicit bounds"):
        spread(ACCURACIES, bounds=(0.0, 1.0), metric="accuracy")
    with pytest.raises(KeyError, match="unknown metric 'acc'.*accuracy, ece"):
        spread(ACCURACIES, metric="acc")


def test_the_cli_aggregate_and_table_give_the_clipped_interval():
    (row,) = aggregate([{"method": "sft", "n": 4, "eval_task": "t", "accuracy": a, "ece": 0.1} for a in ACCURACIES])
    assert row["accuracy"]["ci95"] == [pytest.approx(0.95 - HALF), 1.0]
    assert set(row) - {"method", "n", "eval_task", "seeds"} == {"accuracy", "ece"}
    text = summary_table([row])
    assert f"0.950±0.050 [{0.95 - HALF:.3f}, 1.000]" in text
    header = text.splitlines()[0]
    for name in metric_table.RUN_METRICS:  # every run metric, under the table's label
        assert metric_table.metric(name).label in header


def test_every_reported_metric_is_in_the_table():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    result = classification_metrics(probs, [0, 1, 1, 1])
    scores = {k for k, v in result.items() if isinstance(v, float)}
    assert scores == set(metric_table.RUN_METRICS) - {"mean_similarity"}
    for name in metric_table.RUN_METRICS:
        lo, hi = metric_table.metric(name).range
        if name in result:
            assert lo <= result[name] and (hi is None or result[name] <= hi)
    assert len(result["reliability"]) == metric_table.ECE_BINS == metric_table.metric("ece").bins


def test_the_bootstrap_draws_the_tables_resamples():
    rng = np.random.default_rng(0)
    correct = rng.random(30) < 0.7
    out = paired_bootstrap(correct, None, ~correct, None)
    assert out["resamples"] == metric_table.BOOTSTRAP_RESAMPLES == metric_table.metric("accuracy").resamples


def test_each_entry_is_complete_and_served_as_json():
    served = metric_table.served()
    assert list(served) == [m.name for m in metric_table.METRICS]
    for name, entry in served.items():
        assert entry["label"] and entry["unit"] and entry["direction"] in ("higher", "lower", None)
        lo, hi = entry["range"]
        assert lo is not None and (hi is None or lo < hi)
        assert entry["scope"] in ("run", "layer", "pair")
    assert served["ece"]["title"] == f"ECE ({metric_table.ECE_BINS} equal-width bins)"
    assert served["ece_equal_mass"]["title"] == f"ECE ({metric_table.ECE_BINS} equal-mass bins)"
    assert served["accuracy"]["axis"] == [0.0, 1.02] and served["ece"]["axis"] == [0.0, None]


@pytest.mark.parametrize("path", ["static/lab/experiment_charts.js", "static/lab/cross_experiment_charts.js",
                                  "templates/lab/experiment_detail.html", "templates/lab/compare.html"])
def test_scripts_and_templates_restate_no_metric_convention(path):
    """Labels, units, bins and metric lists come from the served table, not from the file."""
    text = (ROOT / path).read_text()
    for m in metric_table.METRICS:
        if m.scope == "run" and m.name != "accuracy":
            assert f'"{m.name}", "' not in text and f"{m.label}<" not in text, (m.name, path)
    for restated in ("15 equal", f"{metric_table.ECE_BINS} equal-width", "[0, 1.02]", '"Accuracy"', '"ECE"',
                     "(fraction correct)", '"cosine similarity"', "Mean cos to ICL", "ECE (equal mass)",
                     "clipped to the metric's range [0, 1]"):
        assert restated not in text, (restated, path)
