"""The CLI and the web give the same 95% CI for the same numbers: three seeds with accuracies
0.9 / 1.0 / 0.95 (unclipped t-interval [0.826, 1.074]) through the CLI's `runner.aggregate`
and through the web's real services on Postgres (the experiment page's results.json, the
cross-experiment data.json, the summary export); every metric the web serves, and the table
it serves to the scripts, is the engine's metric table."""
import csv
import io
import math

import pytest

from webapp.lab.services import exports
from webapp.lab.services.experiment_summary import compare
from workers.engine import metric_table
from workers.engine.runner import aggregate

from .test_compare import make_result, world  # noqa: F401 (world: the fixture)

ACCURACIES = [0.9, 1.0, 0.95]
HALF = 4.302652729749462 * 0.05 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)


@pytest.fixture
def three_seeds(world):  # noqa: F811
    for seed, acc in enumerate(ACCURACIES):
        make_result(world["e1"], world["task"], "sft", 4, seed, [1, 1, 0, 1], accuracy=acc, ece=0.02 * seed)
    return world


def _cli():
    (row,) = aggregate([{"method": "sft", "n": 4, "eval_task": "sent", "accuracy": a, "ece": 0.02 * s,
                         "ece_equal_mass": 0.02 * s, "brier": 0.2, "nll": 0.6} for s, a in enumerate(ACCURACIES)])
    return row


def test_cli_and_web_give_the_same_clipped_interval(three_seeds):
    c, e1 = three_seeds["client"], three_seeds["e1"]
    cli = _cli()
    page = c.get(f"/experiments/{e1.pk}/results.json").json()
    (exp_row,) = page["summary"]
    (cross_row,) = c.get("/compare/data.json").json()["summary"]
    assert cli["accuracy"]["ci95"] == [pytest.approx(0.95 - HALF), 1.0]  # clipped in the engine
    for metric in ("accuracy", "ece"):
        assert exp_row[metric]["ci95"] == cross_row[metric]["ci95"] == cli[metric]["ci95"], metric
        assert exp_row[metric]["std"] == cli[metric]["std"] and exp_row[metric]["mean"] == cli[metric]["mean"]
    assert exp_row["ece"]["ci95"][0] == 0.0
    # the download of the same comparison says the same
    (row,) = csv.DictReader(io.StringIO(c.get("/compare/export/summary.csv").content.decode()))
    assert [float(row["accuracy_ci95_low"]), float(row["accuracy_ci95_high"])] == cli["accuracy"]["ci95"]
    assert compare(e1)["summary"][0]["accuracy"]["ci95"] == cli["accuracy"]["ci95"]


def test_every_metric_the_web_serves_is_in_the_table(three_seeds):
    c, e1 = three_seeds["client"], three_seeds["e1"]
    served = metric_table.served()
    for payload in (c.get(f"/experiments/{e1.pk}/results.json").json(), c.get("/compare/data.json").json()):
        assert payload["metric_table"] == served  # the scripts read labels, ranges and bins from here
        assert payload["ece_bins"] == served["ece"]["bins"]
        (row,) = payload["summary"]
        scores = {k for k, v in row.items() if isinstance(v, dict)}
        assert scores == {m for m in metric_table.RUN_METRICS if row[m] is not None}
        assert set(payload["table"][0]) >= set(metric_table.RUN_METRICS)
    assert exports.METRICS == list(metric_table.RUN_METRICS)
    header = c.get("/compare/export/summary.csv").content.decode().splitlines()[0].split(",")
    assert [h[:-5] for h in header if h.endswith("_mean")] == list(metric_table.RUN_METRICS)
    # the compare page's table: one heading per run metric, under the table's label
    html = c.get("/compare/").content.decode()
    for name in metric_table.RUN_METRICS:
        assert f">{metric_table.metric(name).label}</th>" in html


def test_paired_bootstrap_on_the_web_uses_the_tables_resamples(three_seeds):
    w = three_seeds
    make_result(w["e1"], w["task"], "icl", 4, 0, [1, 0, 0, 1])
    body = w["client"].get("/compare/data.json").json()
    assert body["metric_table"]["accuracy"]["resamples"] == metric_table.BOOTSTRAP_RESAMPLES
    from webapp.lab.services import cross_experiment

    paired = cross_experiment.paired(cross_experiment.select(w["alice"], cross_experiment.parse({})), "sft", "icl")
    assert paired["resamples"] == paired["pairs"][0]["resamples"] == metric_table.BOOTSTRAP_RESAMPLES
