"""The cross-experiment comparison and the exports, on runs built with known numbers:
filters (and that runs of other teams never appear), the metrics over seeds, bad parameters
answered with a message, the paired statistics of two methods with a known answer, the
per-example diff, the provenance diff, the LaTeX/Markdown tables against hand-computed
ones, and CSV cells that a spreadsheet would run neutralised in a real download."""
import csv
import io
import json
import math

import pytest
from django.test import Client

from webapp.lab.models import EvalResult, Experiment, Prediction, Run
from webapp.teams import services as team_services
from workers.engine.metric_table import BOOTSTRAP_RESAMPLES

from .conftest import make_task

T_975 = {1: 12.706204736174698, 2: 4.302652729749462}  # t(0.975, df) from a table


def make_exp(user, team, task, name, model="embedded"):
    exp = Experiment.objects.create(owner=user, team=team, name=name, train_task=task, model_name=model,
                                    methods=["icl", "sft"], n_values=[4])
    exp.eval_tasks.set([task])
    return exp


def make_result(exp, task, method, n, seed, correct, conf=None, accuracy=None, ece=0.1, inputs=None,
                provenance=None):
    """A done run with one result and one prediction per entry of `correct`."""
    run = Run.objects.create(experiment=exp, method=method, n=n, seed=seed, state=Run.DONE,
                             provenance=provenance or {})
    acc = sum(correct) / len(correct) if accuracy is None else accuracy
    res = EvalResult.objects.create(run=run, eval_task=task, eval_task_name=task.name, accuracy=acc, ece=ece,
                                    ece_equal_mass=ece, brier=0.2, nll=0.6, reliability=[
                                        {"bin_lower": 0.5, "bin_upper": 1.0, "confidence": 0.8, "accuracy": acc,
                                         "count": len(correct)}])
    conf = conf or [0.8] * len(correct)
    inputs = inputs or [f"example {i}" for i in range(len(correct))]
    Prediction.objects.bulk_create(
        Prediction(result=res, index=i, input=inputs[i], gold="positive", predicted="positive" if c else "negative",
                   confidence=conf[i], correct=bool(c)) for i, c in enumerate(correct))
    return run


@pytest.fixture
def world(db, django_user_model):
    alice = django_user_model.objects.create_user("alice", password="pw")
    bob = django_user_model.objects.create_user("bob", password="pw")
    team = team_services.create_team(alice, "lab")
    other = team_services.create_team(bob, "elsewhere")
    task = make_task(alice, name="sent", team=team)
    bob_task = make_task(bob, name="bob-task", team=other)
    e1 = make_exp(alice, team, task, "first")
    e2 = make_exp(alice, team, task, "second", model="smollm2-135m")
    foreign = make_exp(bob, other, bob_task, "bob's")
    make_result(foreign, bob_task, "sft", 4, 0, [1, 0, 1, 1])
    client = Client()
    client.force_login(alice)
    return {"alice": alice, "team": team, "task": task, "e1": e1, "e2": e2, "foreign": foreign, "client": client}


def test_filters_and_metrics_over_seeds(world):
    c, e1, e2, task = world["client"], world["e1"], world["e2"], world["task"]
    for seed, acc in enumerate((0.5, 0.6, 0.7)):
        make_result(e1, task, "sft", 4, seed, [1, 0, 1, 1], accuracy=acc)
    make_result(e1, task, "icl", 4, 0, [1, 0, 0, 1])
    make_result(e2, task, "sft", 8, 0, [1, 1, 1, 1])
    data = c.get("/compare/data.json").json()
    assert {r["experiment"] for r in data["runs"]} == {e1.pk, e2.pk}  # never bob's
    assert data["models"] == ["embedded", "smollm2-135m"]
    row = next(r for r in data["summary"] if r["model"] == "embedded" and r["method"] == "sft")
    half = T_975[2] * 0.1 / math.sqrt(3)
    assert row["seeds"] == 3 and row["accuracy"]["mean"] == pytest.approx(0.6)
    assert row["accuracy"]["std"] == pytest.approx(0.1)
    assert row["accuracy"]["ci95"] == [pytest.approx(0.6 - half), pytest.approx(0.6 + half)]
    # each filter narrows the runs
    assert {r["method"] for r in c.get("/compare/data.json?method=icl").json()["runs"]} == {"icl"}
    assert {r["n"] for r in c.get("/compare/data.json?n=8").json()["runs"]} == {8}
    assert {r["seed"] for r in c.get("/compare/data.json?seed=1,2").json()["runs"]} == {1, 2}
    assert {r["model"] for r in c.get("/compare/data.json?model=smollm2-135m").json()["runs"]} == {"smollm2-135m"}
    assert {r["experiment"] for r in c.get(f"/compare/data.json?experiment={e2.pk}").json()["runs"]} == {e2.pk}
    assert c.get("/compare/data.json?train_task=nothing").json()["runs"] == []
    assert len(c.get("/compare/data.json?eval_task=sent&method=sft&method=icl").json()["runs"]) == 5
    queued = Run.objects.create(experiment=e1, method="ia2", n=4, seed=0)
    assert [r["id"] for r in c.get("/compare/data.json?state=queued").json()["runs"]] == [queued.pk]
    # the page: one table, the spread convention as its caption, mean ± sd [CI]
    page = c.get("/compare/?model=embedded").content.decode()
    assert "mean ± sample sd (ddof=1) over seeds" in page
    assert f"0.600 ± 0.100 [{0.6 - half:.3f}, {0.6 + half:.3f}]" in page
    assert "smollm2-135m</code></td>" not in page


def test_bad_parameters_answer_with_a_message(world):
    c = world["client"]
    for query, field in (("n=abc", "n"), ("method=magic", "method"), ("state=gone", "state"), ("page=0", "page"),
                         ("a=sft&b=sft", "b"), ("show=a_right_b_wrong", "show"), ("seed=1.5", "seed"),
                         ("show=everything", "show"), ("experiment=x", "experiment")):
        page = c.get(f"/compare/?{query}")
        assert page.status_code == 400, query
        assert f"<code>{field}</code>:" in page.content.decode(), query
        data = c.get(f"/compare/data.json?{query}")
        assert data.status_code == 400 and field in data.json()["errors"], query
        export = c.get(f"/compare/export/metrics.csv?{query}")
        assert export.status_code == 400 and field in export.content.decode(), query
    assert "give N as an integer" in c.get("/compare/?n=abc").content.decode()
    # an id outside the user's teams (or none at all) is "no such object"
    foreign_run = world["foreign"].runs.get()
    for query in (f"experiment={world['foreign'].pk}", "experiment=999999", f"run={foreign_run.pk}"):
        assert c.get(f"/compare/?{query}").status_code == 404, query
        assert c.get(f"/compare/data.json?{query}").status_code == 404, query
    assert c.get("/compare/export/metrics.xlsx").status_code == 404
    # unknown parameters are named, not fatal
    page = c.get("/compare/?colour=blue")
    assert page.status_code == 200 and "<code>colour</code>" in page.content.decode()


# A right on 15 of 20 examples, B on 6: both 5, only A 10, only B 1, neither 4.
A_RIGHT = [1] * 15 + [0] * 5
B_RIGHT = [1] * 5 + [0] * 10 + [1] + [0] * 4


def test_paired_statistics_on_a_constructed_case(world):
    c, e1, task = world["client"], world["e1"], world["task"]
    make_result(e1, task, "sft", 4, 0, A_RIGHT)
    make_result(e1, task, "icl", 4, 0, B_RIGHT)
    # seed 1: one discordant example each way -> within noise
    make_result(e1, task, "sft", 4, 1, [1, 0, 1, 1, 0, 1])
    make_result(e1, task, "icl", 4, 1, [0, 1, 1, 1, 0, 1])
    # seed 2: scored on other examples -> no pair
    make_result(e1, task, "sft", 4, 2, [1, 1], inputs=["x", "y"])
    make_result(e1, task, "icl", 4, 2, [1, 1], inputs=["p", "q"])
    from webapp.lab.services import cross_experiment

    selection = cross_experiment.select(world["alice"], cross_experiment.parse({"a": "sft", "b": "icl"}))
    result = cross_experiment.paired(selection, "sft", "icl")
    first, second = result["pairs"]
    assert first["agreement"] == {"both": 5, "only_a": 10, "only_b": 1, "neither": 4}
    assert first["mcnemar_p"] == pytest.approx(2 * (1 + 11) / 2 ** 11)  # 2 P(X <= 1), X ~ Bin(11, 1/2)
    assert first["accuracy_diff"] == pytest.approx(0.45)
    # every confidence 0.8: ECE is |0.8 - accuracy| = 0.05 for A and 0.5 for B
    assert first["resamples"] == BOOTSTRAP_RESAMPLES and first["ece_diff"] == pytest.approx(0.05 - 0.5)
    lo, hi = first["accuracy_ci"]
    assert 0 < lo < 0.45 < hi <= 0.9 and not first["within_noise"]
    assert first["ece_ci"][1] < 0 and first["ece_within_noise"] is False
    assert "SFT is more accurate, beyond noise" in first["verdict"]
    assert "SFT is better calibrated, beyond noise" in first["verdict"]
    # the page's interval is the engine's seeded bootstrap, with the metric table's resamples (as the CLI)
    from workers.engine.stats import paired_bootstrap

    direct = paired_bootstrap(A_RIGHT, [0.8] * 20, B_RIGHT, [0.8] * 20, seed=0)
    assert first["accuracy_ci"] == list(direct["accuracy_ci"]) and first["ece_ci"] == list(direct["ece_ci"])
    assert (first["seed"], second["seed"], second["bootstrap_seed"]) == (0, 1, 0)  # the runs' seed, not the bootstrap's
    assert second["agreement"] == {"both": 3, "only_a": 1, "only_b": 1, "neither": 1}
    assert second["mcnemar_p"] == 1.0 and second["within_noise"]
    assert second["verdict"].startswith("Accuracy: within noise")
    assert result["unmatched"] == [{"eval_task": "sent", "n": 4, "seed": 2,
                                    "why": "the runs were scored on different evaluation examples"}]
    # the page says it in words; the second view comes from the cache, with the same numbers
    page = c.get("/compare/?a=sft&b=icl").content.decode()
    assert "within noise" in page and "beyond noise" in page and "different evaluation examples" in page
    from django.core.cache import cache

    key = next(k for k in cache._cache if ":paired:" in k)  # locmem: the stored entries
    assert key
    again = cross_experiment.paired(selection, "sft", "icl")
    assert again["pairs"][0]["accuracy_ci"] == first["accuracy_ci"]


def test_per_example_diff_filters_and_pages(world):
    c, e1, task = world["client"], world["e1"], world["task"]
    make_result(e1, task, "sft", 4, 0, A_RIGHT)
    make_result(e1, task, "icl", 4, 0, B_RIGHT)
    from webapp.lab.services import cross_experiment

    selection = cross_experiment.select(world["alice"], cross_experiment.parse({}))
    table = cross_experiment.per_example(selection, show="a_right_b_wrong", a="sft", b="icl")
    assert [e["index"] for e in table["examples"]] == list(range(5, 15))
    assert [col["label"] for col in table["columns"]] == ["ICL", "SFT"]
    assert cross_experiment.per_example(selection, show="disagree")["matching"] == 11
    assert [e["index"] for e in cross_experiment.per_example(selection, show="a_wrong_b_right", a="sft", b="icl")
            ["examples"]] == [15]
    assert cross_experiment.per_example(selection, show="all_wrong")["matching"] == 4
    page = c.get("/compare/?a=sft&b=icl&show=a_right_b_wrong").content.decode()
    assert "10 of 20 examples" in page and "example 7" in page and "example 16" not in page
    # pagination: 60 examples, 50 a page
    e2 = world["e2"]
    make_result(e2, task, "sft", 4, 0, [1] * 60)
    sel = cross_experiment.select(world["alice"], cross_experiment.parse({"experiment": str(e2.pk)}))
    assert cross_experiment.per_example(sel, page=2)["examples"][0]["index"] == 50
    page2 = c.get(f"/compare/?experiment={e2.pk}&page=2").content.decode()
    assert "page 2 of 2" in page2 and "← previous" in page2


def test_provenance_diff_lists_only_the_fields_that_differ(world):
    c, e1, e2, task = world["client"], world["e1"], world["e2"], world["task"]
    base = {"model": "embedded", "torch": "2.13.0", "weights_sha256": "aa", "prompt_template": "Text:{x}",
            "training.lr": [0.01], "task": "sent", "train_examples_sha256": "s0"}
    r1 = make_result(e1, task, "sft", 4, 0, [1, 1], provenance=base)
    r2 = make_result(e1, task, "icl", 4, 0, [1, 0], provenance=base)
    # another seed draws other training examples: expected, not reported
    make_result(e1, task, "sft", 4, 1, [1, 1], provenance={**base, "train_examples_sha256": "s1"})
    data = c.get(f"/compare/data.json?experiment={e1.pk}").json()
    assert data["provenance_diff"] == {"fields": [], "without_provenance": []}
    assert "provenance-diff" not in c.get(f"/compare/?experiment={e1.pk}").content.decode()
    # other weights, another torch and other training examples for the same seed: reported
    r4 = make_result(e2, task, "sft", 4, 0, [1, 1], provenance={**base, "torch": "2.14.0", "weights_sha256": "bb",
                                                               "train_examples_sha256": "zz"})
    diff = c.get("/compare/data.json").json()["provenance_diff"]
    fields = {d["field"]: d for d in diff["fields"]}
    assert set(fields) == {"torch", "weights_sha256", "train_examples_sha256"}
    assert fields["torch"]["values"] == [{"value": "2.13.0", "runs": sorted([r1.pk, r2.pk, r1.pk + 2])},
                                         {"value": "2.14.0", "runs": [r4.pk]}]
    assert fields["train_examples_sha256"]["scope"] == "runs of sent at N=4, seed 0"
    page = c.get("/compare/").content.decode()
    warning = page[page.index('id="provenance-diff"'):page.index('id="cmp-metrics"')]
    assert "<code>torch</code>" in warning and "<code>weights_sha256</code>" in warning
    assert "prompt_template" not in warning and "training.lr" not in warning


def _latex_world(world):
    e1, task = world["e1"], world["task"]
    for seed, (icl_acc, icl_ece, sft_acc, sft_ece) in enumerate(((0.5, 0.10, 0.8, 0.05), (0.7, 0.20, 0.9, 0.07))):
        make_result(e1, task, "icl", 4, seed, [1, 0], accuracy=icl_acc, ece=icl_ece)
        make_result(e1, task, "sft", 4, seed, [1, 1], accuracy=sft_acc, ece=sft_ece)
    return e1


def test_latex_and_markdown_exports_match_hand_computed_tables(world):
    c = world["client"]
    e1 = _latex_world(world)
    # ICL: acc 50, 70 -> 60.0 ± 14.1 (sd = sqrt(200) = 14.14); ECE .10, .20 -> 0.15 ± 0.07 (sd 0.0707)
    # SFT: acc 80, 90 -> 85.0 ± 7.1 (sd 7.07); ECE .05, .07 -> 0.06 ± 0.01 (sd 0.0141); SFT best: bold
    expected = (
        "\\begin{table}[t]\n\\centering\n\\begin{tabular}{lcc}\n\\toprule\n"
        "Train $\\rightarrow$ Eval & ICL & SFT \\\\\n\\midrule\n"
        "sent $\\rightarrow$ sent & 60.0 $\\pm$ 14.1 / 0.15 $\\pm$ 0.07 & "
        "\\textbf{85.0 $\\pm$ 7.1 / 0.06 $\\pm$ 0.01} \\\\\n"
        "\\bottomrule\n\\end{tabular}\n"
        "\\caption{Accuracy (\\%) / ECE; mean $\\pm$ sample sd (ddof=1) over seeds.}\n\\end{table}\n")
    response = c.get(f"/experiments/{e1.pk}/export/table.tex")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="experiment-{e1.pk}-table.tex"'
    assert response.content.decode() == expected
    # the comparison's table of the same runs is the same table
    assert c.get(f"/compare/export/table.tex?experiment={e1.pk}").content.decode() == expected
    md = c.get(f"/experiments/{e1.pk}/export/table.md").content.decode()
    assert md.splitlines()[:3] == ["| train → eval | ICL | SFT |", "|---|---|---|",
                                   "| sent → sent | 60.0 ± 14.1 / 0.15 ± 0.07 | **85.0 ± 7.1 / 0.06 ± 0.01** |"]
    summary = list(csv.DictReader(io.StringIO(c.get(f"/experiments/{e1.pk}/export/summary.csv").content.decode())))
    icl = next(r for r in summary if r["method"] == "icl")
    assert float(icl["accuracy_mean"]) == pytest.approx(0.6) and float(icl["accuracy_std"]) == pytest.approx(
        math.sqrt(0.02))
    body = json.loads(c.get(f"/experiments/{e1.pk}/export/metrics.json").content)
    assert len(body["runs"]) == 4 and body["spread"].startswith("mean ± sample sd")


def test_csv_exports_neutralise_formulas(world):
    c, e1, task = world["client"], world["e1"], world["task"]
    evil = ['=HYPERLINK("http://x.example","click")', "+1+1", "-2+3", "@SUM(A1)", "plain"]
    make_result(e1, task, "sft", 4, 0, [1, 0, 1, 0, 1], inputs=evil)
    for url in (f"/experiments/{e1.pk}/export/predictions.csv", "/compare/export/predictions.csv"):
        response = c.get(url)
        assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment; filename=")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [r["input"] for r in rows] == ["'" + e for e in evil[:4]] + ["plain"]
    metrics = list(csv.DictReader(io.StringIO(c.get("/compare/export/metrics.csv").content.decode())))
    assert metrics[0]["accuracy"] == "0.6" and metrics[0]["experiment_name"] == "first"
    preds = json.loads(c.get(f"/compare/export/predictions.json?experiment={e1.pk}").content)["predictions"]
    assert preds[0]["input"] == evil[0]  # JSON keeps the text as it is
    # the experiment page links every download; an experiment of another team is 404
    page = c.get(f"/experiments/{e1.pk}/").content.decode()
    assert f"/experiments/{e1.pk}/export/predictions.csv" in page and f"/compare/?experiment={e1.pk}" in page
    assert c.get(f"/experiments/{world['foreign'].pk}/export/metrics.csv").status_code == 404
    assert c.get(f"/experiments/{e1.pk}/export/metrics.xlsx").status_code == 404


@pytest.mark.django_db
def test_compare_queries_do_not_grow_with_runs(client_in, user):
    """The page, its JSON and a download read a fixed number of queries for 20 or 200 runs."""
    import time

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from .test_query_bounds import seed_experiment

    urls = ["/compare/?experiment={pk}&a=sft&b=icl&show=disagree", "/compare/data.json?experiment={pk}",
            "/compare/export/metrics.csv?experiment={pk}", "/experiments/{pk}/export/predictions.csv"]
    counts, seconds = {}, {}
    for n_runs in (20, 200):
        exp = seed_experiment(user, n_runs, f"q{n_runs}")
        for url in urls:
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                response = client_in.get(url.format(pk=exp.pk))
                seconds[(n_runs, url)] = time.perf_counter() - start
            assert response.status_code == 200, url
            counts[(n_runs, url)] = len(ctx.captured_queries)
    assert all(counts[(20, u)] == counts[(200, u)] for u in urls), counts
    print("\ncompare with 200 runs:", {u.split("?")[0]: f"{counts[(200, u)]} queries, {seconds[(200, u)]:.2f} s"
                                       for u in urls})
