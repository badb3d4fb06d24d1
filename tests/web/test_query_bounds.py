"""Per-request work does not grow with the number of runs: the experiment page,
results.json, history.json, the per-example JSON and the list pages use a fixed number
of queries with 20 or 200 finished runs (counted, not timed). Cached payloads (results,
a finished experiment's history, per-example tables) are invalidated when a run changes
state, and served with an ETag."""
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from webapp.lab.models import AdapterOverlap, EvalResult, Experiment, LayerSimilarity, MetricPoint, Prediction, Run, RunEvent
from webapp.lab.services.events import ProgressRecorder
from webapp.lab.services.lifecycle import run_job

from .conftest import experiment_post, make_task

METHODS = ["icl", "sft", "ia2", "ia2-sft"]


def seed_experiment(user, n_runs, name="exp"):
    """An experiment with `n_runs` done runs, each with metrics, 4 layers, 10 predictions,
    10 loss points and 3 events (like bench/web_latency.py, smaller), and the adapter
    overlap of every two trained runs sharing an N and a seed."""
    rng = random.Random(n_runs)
    task = make_task(user, name=f"task-{name}", n=20)
    exp = Experiment.objects.create(owner=user, name=name, train_task=task, methods=METHODS, n_values=[2, 4],
                                    seeds=n_runs // 8)
    exp.eval_tasks.set([task])
    keys = [(m, n, s) for s in range(n_runs) for m in METHODS for n in (2, 4)][:n_runs]
    runs = Run.objects.bulk_create(Run(experiment=exp, method=m, n=n, seed=s, state="done", stage="done", step=1,
                                       total=1) for m, n, s in keys)
    results = EvalResult.objects.bulk_create(
        EvalResult(run=r, eval_task=task, eval_task_name=task.name, accuracy=rng.random(), ece=rng.random(),
                   ece_equal_mass=rng.random(), brier=rng.random(), nll=rng.random(), mean_similarity=rng.random(),
                   n_layers=4, reliability=[{"bin_lower": 0.0, "bin_upper": 1.0, "confidence": 0.5,
                                             "accuracy": 0.5, "count": 3}])
        for r in runs)
    LayerSimilarity.objects.bulk_create(LayerSimilarity(result=res, layer=i, cosine=rng.random(), cka=rng.random())
                                        for res in results for i in range(4))
    Prediction.objects.bulk_create(Prediction(result=res, index=i, input=f"x{i}", gold="positive",
                                              predicted="positive", confidence=0.7, correct=True)
                                   for res in results for i in range(10))
    MetricPoint.objects.bulk_create(MetricPoint(run=r, series="sft/loss", step=i, value=1.0 / (i + 1))
                                    for r in runs for i in range(10))
    RunEvent.objects.bulk_create(RunEvent(run=r, kind="state", message="done") for r in runs for _ in range(3))
    by_key = {(r.n, r.seed, r.method): r for r in runs}
    AdapterOverlap.objects.bulk_create(
        AdapterOverlap(experiment=exp, run_a=a, run_b=b, n=a.n, seed=a.seed, method_a=a.method, method_b=b.method,
                       mean=rng.random(), random=0.125, per_module={"q_proj": 0.5})
        for (n, s, m), a in by_key.items() for m2 in METHODS[METHODS.index(m) + 1:]
        if m != "icl" and (b := by_key.get((n, s, m2))))
    return exp


def _urls(exp):
    return {
        "experiment page": f"/experiments/{exp.pk}/",
        "results.json": f"/experiments/{exp.pk}/results.json",
        "history.json": f"/experiments/{exp.pk}/history.json",
        "examples.json": f"/experiments/{exp.pk}/examples.json?eval_task={exp.train_task.name}&n=4&seed=0",
        "experiment list": "/experiments/",
        "task list": "/tasks/",
    }


# user + experiment + what the view itself needs (the session comes from the cache); pages also
# read the user's team memberships once (roles decide what the page shows), the experiment page
# its share links; results.json reads the results (two queries) and the adapter overlaps (one);
# the task list reads each task's stored example counts with the tasks
MAX_QUERIES = {"experiment page": 8, "results.json": 5, "history.json": 6, "examples.json": 3,
               "experiment list": 4, "task list": 3}
MAX_QUERIES_CACHED = {"experiment page": 6, "results.json": 2, "history.json": 2, "examples.json": 2}


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_queries_do_not_grow_with_runs(client_in, user, django_assert_max_num_queries):
    small, big = seed_experiment(user, 20, "small"), seed_experiment(user, 200, "big")
    assert big.runs.count() == 200
    cold_small = {name: _count(client_in, url) for name, url in _urls(small).items()}
    for name, url in _urls(big).items():
        with django_assert_max_num_queries(MAX_QUERIES[name]):
            assert client_in.get(url).status_code == 200
    from django.core.cache import cache

    cache.clear()
    client_in.get("/tasks/new/")  # the session back into the cache (sessions are cached_db)
    cold_big = {name: _count(client_in, url) for name, url in _urls(big).items()}
    assert cold_big == cold_small  # the same queries for 20 and for 200 runs
    for name, limit in MAX_QUERIES_CACHED.items():  # second request: from the cache
        with django_assert_max_num_queries(limit):
            assert client_in.get(_urls(big)[name]).status_code == 200


@pytest.mark.django_db
def test_payloads_match_uncached_and_pages_show_runs(client_in, user):
    exp = seed_experiment(user, 200)
    first = client_in.get(f"/experiments/{exp.pk}/results.json").json()
    again = client_in.get(f"/experiments/{exp.pk}/results.json").json()
    assert first == again and len(first["table"]) == 200
    # sft, ia2 and ia2-sft at each N: three pairs per N, each the mean over the seeds
    pairs = first["adapter_overlap"]
    assert sorted((o["n"], o["a"], o["b"]) for o in pairs) == sorted(
        (n, a, b) for n in (2, 4) for a, b in (("sft", "ia2"), ("sft", "ia2-sft"), ("ia2", "ia2-sft")))
    assert all(o["seeds"] == 25 and len(o["points"]) == 25 and o["random"] == 0.125 for o in pairs)
    assert sum(row["seeds"] for row in first["summary"]) == 200
    page = client_in.get(f"/experiments/{exp.pk}/").content.decode()
    assert page.count('data-run="') == 200
    assert "200 done" in client_in.get("/experiments/").content.decode()
    hist = client_in.get(f"/experiments/{exp.pk}/history.json").json()
    assert len(hist["runs"]) == 200 and len(hist["series"]) == 200 and hist["last_event"] and hist["last_point"]
    ex = client_in.get(f"/experiments/{exp.pk}/examples.json",
                       {"eval_task": exp.train_task.name, "n": 4, "seed": 0}).json()
    assert ex["methods"] == METHODS and len(ex["examples"]) == 10


@pytest.mark.django_db
def test_cache_is_invalidated_when_a_run_changes_state(client_in, task, no_engine_check, fake_runner):
    client_in.post("/experiments/new/", experiment_post(task, methods=["icl", "sft"]))
    exp = Experiment.objects.get()
    url = f"/experiments/{exp.pk}/results.json"
    empty = client_in.get(url)
    assert empty.json()["table"] == [] and empty["ETag"]
    assert client_in.get(url, HTTP_IF_NONE_MATCH=empty["ETag"]).status_code == 304
    icl = exp.runs.get(method="icl")
    assert run_job(icl.pk) == "done"
    after = client_in.get(url, HTTP_IF_NONE_MATCH=empty["ETag"])
    assert after.status_code == 200 and after["ETag"] != empty["ETag"]
    assert [r["method"] for r in after.json()["table"]] == ["icl"]

    # history of an experiment with an unfinished run is never cached: progress shows at once
    sft = exp.runs.get(method="sft")
    Run.objects.filter(pk=sft.pk).update(state="running")
    sft.refresh_from_db()
    hist_url = f"/experiments/{exp.pk}/history.json"
    assert "ETag" not in client_in.get(hist_url)
    rec = ProgressRecorder(sft, min_interval=0.0)
    rec({"stage": "sft", "step": 1, "total": 10, "values": {"loss": 0.5}})
    rec.close()
    hist = client_in.get(hist_url).json()
    assert hist["series"][str(sft.pk)]["sft/loss"]["values"] == [0.5]

    # a finished experiment's history is cached until a run changes state again
    Run.objects.filter(pk=sft.pk).update(state="queued")
    assert run_job(sft.pk) == "done"
    done = client_in.get(hist_url)
    assert done["ETag"] and {r["state"] for r in done.json()["runs"]} == {"done"}
    assert client_in.get(hist_url).json() == done.json()
    assert [r["method"] for r in client_in.get(url).json()["table"]] == ["icl", "sft"]


@pytest.mark.django_db
def test_cache_down_means_computed_not_failed(client_in, user, settings):
    """Redis (the cache in Redis mode) unreachable: payloads are computed, pages do not fail."""
    from .live import free_port

    exp = seed_experiment(user, 8)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    for name, url in _urls(exp).items():
        assert client_in.get(url).status_code == 200, name
    assert len(client_in.get(_urls(exp)["results.json"]).json()["table"]) == 8


@pytest.mark.django_db
def test_cached_run_rows_carry_each_requests_csrf_token(user):
    import re

    from django.test import Client

    exp = seed_experiment(user, 8)
    for _ in range(2):  # the second page comes from the cached rows
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        page = client.get(f"/experiments/{exp.pk}/").content.decode()
        tokens = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert len(tokens) >= 9 and "@@csrf" not in page  # one per row + the "cancel all" form
        run = exp.runs.first()
        resp = client.post(f"/experiments/{exp.pk}/runs/{run.pk}/cancel/", {"csrfmiddlewaretoken": tokens[-1]})
        assert resp.status_code == 302  # accepted: the token belongs to this session
