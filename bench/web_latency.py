"""Web page latency: seed 1,000 finished runs (10 experiments x 100 runs, each with
results, per-layer similarity, 40 predictions, loss points and events) into a
dedicated Postgres database (`labbench_bench`, created and dropped here), start the
app (daphne) and measure p50/p95 latency of the main pages with 20 concurrent
signed-in clients on loopback. Prints a JSON summary and updates the
`## Web page latency` section of BENCHMARKS.md.

    .venv/bin/python -m bench.web_latency [--requests-per-client 30] [--keep-db]
"""
import argparse
import json
import platform
import random
import threading
import time
import urllib.request

from bench.webcommon import ROOT, Server, login, percentile, pg_url, recreate_database, setup_django, \
    update_benchmarks_md

DB_NAME = "labbench_bench"
METHODS = ["icl", "sft", "ia2", "ia2-sft"]
N_VALUES = [2, 4, 8, 16, 32]
SEEDS = 5
LAYERS = 4
PREDICTIONS = 40
POINTS = 30
TARGET_MS = 150


def seed():
    """10 experiments x (4 methods x 5 N x 5 seeds) = 1,000 done runs with everything a page shows."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from webapp.lab.models import EvalResult, Example, Experiment, LayerSimilarity, MetricPoint, Prediction, Run, \
        RunEvent, Task

    rng = random.Random(0)
    user = get_user_model().objects.create_user("bench", password="bench-pw")
    tasks = []
    for t in range(12):
        task = Task.objects.create(owner=user, name=f"task-{t}", labels=["yes", "no"])
        Example.objects.bulk_create(Example(task=task, position=i, input=f"example {i} of task {t}",
                                            output=rng.choice(["yes", "no"])) for i in range(200))
        tasks.append(task)
    now = timezone.now()
    experiments = []
    for e in range(10):
        exp = Experiment.objects.create(owner=user, name=f"bench {e}", train_task=tasks[e], methods=METHODS,
                                        n_values=N_VALUES, seeds=SEEDS, eval_size=PREDICTIONS,
                                        target_modules=["q_proj", "k_proj", "o_proj"], config={"bench": True})
        exp.eval_tasks.set([tasks[e]])
        runs = Run.objects.bulk_create(
            Run(experiment=exp, method=m, n=n, seed=s, state="done", stage="done", step=1, total=1,
                message="done", started_at=now, finished_at=now, heartbeat_at=now)
            for m in METHODS for n in N_VALUES for s in range(SEEDS))
        results = EvalResult.objects.bulk_create(
            EvalResult(run=r, eval_task=tasks[e], eval_task_name=tasks[e].name, accuracy=rng.random(),
                       ece=rng.random() / 3, ece_equal_mass=rng.random() / 3, brier=rng.random() / 2,
                       nll=rng.random(), mean_similarity=None if r.method == "icl" else rng.random(),
                       n_layers=LAYERS, reliability=[{"bin_lower": b / 15, "bin_upper": (b + 1) / 15,
                                                      "confidence": (b + 0.5) / 15, "accuracy": rng.random(),
                                                      "count": rng.randint(0, 5)} for b in range(15)],
                       timings={"eval": 1.0})
            for r in runs)
        LayerSimilarity.objects.bulk_create(
            LayerSimilarity(result=res, layer=i, cosine=rng.random(), cka=rng.random())
            for res, r in zip(results, runs) if r.method != "icl" for i in range(LAYERS))
        Prediction.objects.bulk_create(
            Prediction(result=res, index=i, input=f"example {i}", gold="yes", predicted=rng.choice(["yes", "no"]),
                       confidence=rng.random(), correct=rng.random() > 0.5,
                       label_probs={"yes": 0.6, "no": 0.4})
            for res in results for i in range(PREDICTIONS))
        MetricPoint.objects.bulk_create(
            MetricPoint(run=r, series="sft/loss", step=i, value=2.0 / (i + 1))
            for r in runs if r.method != "icl" for i in range(POINTS))
        RunEvent.objects.bulk_create(
            RunEvent(run=r, kind=k, stage="done", step=1, total=1, message=k) for r in runs
            for k in ("state", "progress", "progress", "progress", "state"))
        experiments.append(exp)
    return experiments


def load(base, cookie, urls, clients, per_client):
    """`clients` threads, each requesting every URL in turn `per_client` times (closed loop)."""
    samples = {name: [] for name in urls}
    errors = []
    lock = threading.Lock()

    def client(i):
        names = list(urls)
        for k in range(per_client):
            name = names[(i + k) % len(names)]
            req = urllib.request.Request(base + urls[name], headers={"Cookie": cookie})
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    resp.read()
                    status = resp.status
            except Exception as exc:  # noqa: BLE001 - counted, reported
                with lock:
                    errors.append(f"{name}: {exc}")
                continue
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                (samples[name] if status == 200 else errors).append(dt if status == 200 else f"{name}: {status}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, errors, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests-per-client", type=int, default=30)
    ap.add_argument("--keep-db", action="store_true")
    args = ap.parse_args(argv)

    recreate_database(DB_NAME)
    url = pg_url(DB_NAME)
    server = None
    try:
        setup_django(url)
        t0 = time.time()
        experiments = seed()
        seed_s = time.time() - t0
        from django.db import connection

        connection.close()
        server = Server(url, log_path=ROOT / "var" / "bench-web-server.log")
        cookie = login(server.base, "bench", "bench-pw")
        exp = experiments[0]
        urls = {
            "task list": "/tasks/",
            "experiment list": "/experiments/",
            "experiment page": f"/experiments/{exp.pk}/",
            "results.json": f"/experiments/{exp.pk}/results.json",
            "history.json": f"/experiments/{exp.pk}/history.json",
            "per-example json": f"/experiments/{exp.pk}/examples.json?eval_task={exp.train_task.name}&n=4&seed=0",
        }
        load(server.base, cookie, urls, 4, 3)  # warm-up
        samples, errors, wall = load(server.base, cookie, urls, args.clients, args.requests_per_client)
    finally:
        if server:
            server.stop()
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            recreate_database(DB_NAME, drop_only=True)

    pages = {name: {"n": len(v), "p50_ms": round(percentile(v, 0.5), 1), "p95_ms": round(percentile(v, 0.95), 1),
                    "max_ms": round(max(v), 1)} for name, v in samples.items() if v}
    total = sum(len(v) for v in samples.values())
    summary = {"benchmark": "web_latency", "runs_seeded": 1000, "seed_seconds": round(seed_s, 1),
               "clients": args.clients, "requests": total, "errors": len(errors), "wall_seconds": round(wall, 1),
               "throughput_rps": round(total / wall, 1), "pages": pages, "target_p95_ms": TARGET_MS,
               "all_under_target": all(p["p95_ms"] < TARGET_MS for p in pages.values()),
               "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs",
               "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(summary, indent=1))
    rows = "\n".join(f"| {name} | `{urls[name].split('?')[0]}` | {p['p50_ms']} | {p['p95_ms']} | {p['max_ms']} |"
                     for name, p in pages.items())
    update_benchmarks_md("Web page latency", f"""
`python -m bench.web_latency` ({summary['date']}, {summary['machine']}; shared with other jobs).
Postgres database `{DB_NAME}` seeded with 1,000 done runs (10 experiments x 100 runs; each run has
its metrics, {LAYERS} similarity layers, {PREDICTIONS} predictions, {POINTS} loss points and 5 events);
one daphne process (`python -m webapp.serve`); {args.clients} concurrent signed-in clients in a closed
loop on loopback, {total} requests, {len(errors)} errors, {summary['throughput_rps']} requests/s.
The experiment measured has 100 runs. Target: p95 < {TARGET_MS} ms.

| Page | URL | p50 ms | p95 ms | max ms |
|---|---|---|---|---|
{rows}
""")
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
