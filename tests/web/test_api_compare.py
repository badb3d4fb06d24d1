"""The REST API's comparison and export routes through the test client, against the pages:
the comparison equals /compare/data.json for the same filters, the paired statistics are the
service's (and a constructed case's known answer), the per-example diff pages by limit and
offset, the downloads are byte for byte the pages', bad parameters are 422 with the page's
messages, and ids outside the user's teams are 404."""
import csv
import io
import json

import pytest
from django.test import Client

from webapp.lab.services import cross_experiment, exports
from workers.engine.metric_table import BOOTSTRAP_RESAMPLES

from .test_api import Api
from .test_compare import A_RIGHT, B_RIGHT, make_result, world  # noqa: F401 (world: the fixture)


@pytest.fixture
def runs(world):  # noqa: F811
    e1, e2, task = world["e1"], world["e2"], world["task"]
    for seed, acc in enumerate((0.5, 0.6, 0.7)):
        make_result(e1, task, "sft", 4, seed, [1, 0, 1, 1], accuracy=acc, inputs=["=1+1", "b", "c", "d"])
    make_result(e1, task, "icl", 4, 0, [1, 0, 0, 1], inputs=["=1+1", "b", "c", "d"])
    make_result(e2, task, "sft", 8, 0, [1, 1, 1, 1])
    return {**world, "api": Api(world["alice"])}


QUERIES = ["", "method=icl", "method=icl,sft&seed=0", "n=8", "model=embedded", "state=done&state=queued"]


def test_comparison_equals_the_pages_json(runs):
    api, page = runs["api"], runs["client"]
    e1 = runs["e1"]
    for query in QUERIES + [f"experiment={e1.pk}", f"experiment={e1.pk}&eval_task=sent"]:
        answer = api.client.get("/api/comparisons/?" + query, headers=api.headers)
        assert answer.status_code == 200, (query, answer.content[:300])
        assert answer.json() == page.get("/compare/data.json?" + query).json(), query
    data = api.get("/comparisons/").json()
    assert {r["experiment"] for r in data["runs"]} == {e1.pk, runs["e2"].pk}  # never bob's
    sft = next(r for r in data["summary"] if r["model"] == "embedded" and r["method"] == "sft")
    assert sft["seeds"] == 3 and sft["accuracy"]["mean"] == pytest.approx(0.6)
    assert {r["method"] for r in api.get("/comparisons/", method="icl").json()["runs"]} == {"icl"}
    # the browser's signed-in session reads the same answer (reads need no token)
    assert page.get("/api/comparisons/?n=8").json() == api.get("/comparisons/", n="8").json()


def test_paired_statistics_are_the_services(world):  # noqa: F811
    e1, task = world["e1"], world["task"]
    make_result(e1, task, "sft", 4, 0, A_RIGHT)
    make_result(e1, task, "icl", 4, 0, B_RIGHT)
    make_result(e1, task, "sft", 4, 1, [1, 0, 1, 1, 0, 1])
    make_result(e1, task, "icl", 4, 1, [0, 1, 1, 1, 0, 1])
    api = Api(world["alice"])
    answer = api.get("/comparisons/paired/", a="sft", b="icl")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    service = cross_experiment.paired(cross_experiment.select(world["alice"], cross_experiment.parse({})), "sft", "icl")
    assert body == json.loads(json.dumps(service))  # every number, as the page shows it
    first, second = body["pairs"]
    assert first["agreement"] == {"both": 5, "only_a": 10, "only_b": 1, "neither": 4}
    assert first["mcnemar_p"] == pytest.approx(2 * (1 + 11) / 2 ** 11)  # 2 P(X <= 1), X ~ Bin(11, 1/2)
    assert first["accuracy_diff"] == pytest.approx(0.45) and not first["within_noise"]
    assert (first["seed"], second["seed"]) == (0, 1) and second["within_noise"]
    assert (body["resamples"], body["seed"], first["bootstrap_seed"]) == (BOOTSTRAP_RESAMPLES, 0, 0)
    # the filters narrow the pairs; A and B are required
    assert [p["seed"] for p in api.get("/comparisons/paired/", a="sft", b="icl", seed="1").json()["pairs"]] == [1]
    r = api.get("/comparisons/paired/", a="sft")
    assert r.status_code == 422 and r.json()["errors"] == {
        "b": [f"required: choose a method, one of {', '.join(cross_experiment.METHODS)}"]}
    r = api.get("/comparisons/paired/", a="sft", b="sft")
    assert r.status_code == 422 and "choose two different methods" in r.json()["errors"]["b"][0]


def test_per_example_diff_pages_by_limit_and_offset(world):  # noqa: F811
    e1, e2, task = world["e1"], world["e2"], world["task"]
    make_result(e1, task, "sft", 4, 0, A_RIGHT)
    make_result(e1, task, "icl", 4, 0, B_RIGHT)
    api = Api(world["alice"])
    body = api.get("/comparisons/examples/", a="sft", b="icl", show="a_right_b_wrong").json()
    assert [e["index"] for e in body["items"]] == list(range(5, 15)) and body["count"] == 10
    assert body["total"] == 20 and [c["label"] for c in body["columns"]] == ["ICL", "SFT"]
    assert body["items"][0]["cells"][1] == {"correct": True, "confidence": 0.8, "predicted": "positive",
                                            "method": "sft"}
    page = cross_experiment.per_example(cross_experiment.select(world["alice"], cross_experiment.parse({})), "", "a_right_b_wrong",
                                   "sft", "icl")
    assert body["items"] == json.loads(json.dumps(page["examples"]))  # the page's rows
    # 60 examples: the API's one pagination
    make_result(e2, task, "sft", 4, 0, [1] * 60)
    first = api.get("/comparisons/examples/", experiment=str(e2.pk), limit="25").json()
    assert (first["count"], first["limit"], first["offset"], first["next"]) == (60, 25, 0, 25)
    last = api.get("/comparisons/examples/", experiment=str(e2.pk), limit="25", offset="50").json()
    assert [e["index"] for e in last["items"]] == list(range(50, 60)) and last["next"] is None
    r = api.get("/comparisons/examples/", page="2")
    assert r.status_code == 422 and "limit and offset" in r.json()["errors"]["page"][0]
    assert api.get("/comparisons/examples/", limit="0").status_code == 422


def test_facets_list_only_the_users_teams(world):  # noqa: F811
    make_result(world["e1"], world["task"], "icl", 2, 3, [1, 0])
    body = Api(world["alice"]).get("/comparisons/facets/").json()
    assert body == json.loads(json.dumps(cross_experiment.facets(world["alice"])))
    assert (body["method"], body["n"], body["seed"], body["train_task"]) == (["icl"], [2], [3], ["sent"])
    assert world["foreign"].pk not in [e["id"] for e in body["experiment"]]


def test_exports_are_the_pages_downloads_byte_for_byte(runs):
    api, page, e1 = runs["api"], runs["client"], runs["e1"]
    for what in exports.KINDS:
        for path in (f"/experiments/{e1.pk}/export/{what}", f"/compare/export/{what}?method=sft&n=4",
                     f"/compare/export/{what}"):
            ours = page.get(path)
            theirs = api.client.get(("/api" + path).replace("/compare/", "/comparisons/"), headers=api.headers)
            assert theirs.status_code == 200 == ours.status_code, (path, theirs.content[:200])
            assert theirs.content == ours.content, path
            for header in ("Content-Type", "Content-Disposition", "X-Content-Type-Options"):
                assert theirs[header] == ours[header], (path, header)
    rows = list(csv.DictReader(io.StringIO(api.get(f"/experiments/{e1.pk}/export/predictions.csv")
                                           .content.decode())))
    assert rows[0]["input"] == "'=1+1" and len(rows) == 16  # 4 runs x 4 examples, the formula neutralised
    assert api.get("/comparisons/export/metrics.csv", n="8").content.decode().count("\n") == 2  # header + 1 run


def test_ids_outside_the_users_teams_and_bad_parameters(runs):
    api, page, foreign = runs["api"], runs["client"], runs["foreign"]
    foreign_run = foreign.runs.get()
    for path in (f"/experiments/{foreign.pk}/export/metrics.csv", "/experiments/999999/export/metrics.csv",
                 f"/comparisons/?experiment={foreign.pk}", f"/comparisons/paired/?a=sft&b=icl&run={foreign_run.pk}",
                 f"/comparisons/examples/?experiment={foreign.pk}",
                 f"/comparisons/export/metrics.csv?experiment={foreign.pk}"):
        r = api.client.get("/api" + path, headers=api.headers)
        assert r.status_code == 404 and r["Content-Type"].startswith("application/json"), path
        assert r.json()["detail"], path
    # bob sees his own experiment, never alice's
    bob = Api(foreign.owner)
    assert bob.get("/comparisons/", experiment=str(foreign.pk)).status_code == 200
    assert bob.get("/comparisons/", experiment=str(runs["e1"].pk)).status_code == 404
    # bad parameters: 422 with the page's own message for the field
    for query, field in (("n=abc", "n"), ("method=magic", "method"), ("state=gone", "state"), ("seed=1.5", "seed"),
                         ("experiment=x", "experiment"), ("n=0", "n")):
        expected = page.get(f"/compare/data.json?{query}").json()["errors"][field]
        for route in ("/comparisons/", "/comparisons/export/metrics.csv", "/comparisons/examples/"):
            r = api.client.get(f"/api{route}?{query}", headers=api.headers)
            assert r.status_code == 422, (route, query)
            assert r.json()["errors"][field] == [expected] and r.json()["detail"] == f"{field}: {expected}"
    r = api.get("/comparisons/examples/", show="everything")
    assert r.status_code == 422 and "choose from all, disagree" in r.json()["errors"]["show"][0]
    # a typo is named, never silently ignored
    r = api.get("/comparisons/", methods="icl")
    assert r.status_code == 422 and "it takes model, train_task" in r.json()["errors"]["methods"][0]
    r = api.get(f"/experiments/{runs['e1'].pk}/export/metrics.xlsx")
    assert r.status_code == 404 and r.json()["detail"] == (
        f"unknown export 'metrics.xlsx'; choose one of {', '.join(exports.KINDS)}")
    assert api.get("/comparisons/export/metrics.xlsx").status_code == 404
    assert Client().get("/api/comparisons/").status_code == 401
