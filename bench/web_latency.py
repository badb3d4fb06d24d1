"""Web page latency: seed 1,000 finished runs (10 experiments x 100 runs, each with
results, per-layer similarity, 40 predictions, loss points and events) into a
dedicated Postgres database (`labbench_bench`, created and dropped here), then, in one
run, start the app in each serving mode and measure p50/p95 latency of the main pages
with 20 concurrent signed-in clients on loopback (and with one client):

- `embedded`: `python -m webapp.serve` without REDIS_URL: one daphne process (what
  `make run` starts; the in-memory channel layer needs a single process);
- `redis`: the same command with REDIS_URL: uvicorn with WEB_CONCURRENCY worker
  processes (`--processes`, default the app's default), Redis cache and channel layer.

Prints a JSON summary and rewrites the `## Web page latency` section of BENCHMARKS.md
with the figures of this run, the mode, the processes and the machine load.

    .venv/bin/python -m bench.web_latency [--modes embedded,redis] [--processes N]
        [--requests-per-client 50] [--keep-db] [--no-write]
"""
import argparse
import concurrent.futures
import http.client
import json
import multiprocessing
import os
import platform
import random
import subprocess
import threading
import time

from bench.webcommon import ROOT, Server, login, percentile, pg_url, recreate_database, setup_django, \
    update_benchmarks_md

DB_NAME = "labbench_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
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


def _client_threads(base, cookie, urls, ids, per_client, start_at, keepalive):
    """Client threads `ids` of one load-generator process. Each is a closed loop over the
    URLs (client i starts at URL i), on its own keep-alive HTTP connection (or a new
    connection per request). Returns (samples, errors, first start, last end, CPU seconds)."""
    samples = {name: [] for name in urls}
    errors = []
    lock = threading.Lock()
    host, port = base.split("//", 1)[1].split(":")
    headers = {"Cookie": cookie, "Host": f"{host}:{port}"}
    ends = []

    def client(i):
        names = list(urls)
        conn = None
        for k in range(per_client):
            name = names[(i + k) % len(names)]
            t0 = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=30)
                conn.request("GET", urls[name], headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
                if not keepalive or resp.will_close:
                    conn.close()
                    conn = None
            except Exception as exc:  # noqa: BLE001 - counted, reported
                if conn is not None:
                    conn.close()
                    conn = None
                with lock:
                    errors.append(f"{name}: {exc}")
                continue
            dt = (time.perf_counter() - t0) * 1000
            with lock:
                (samples[name] if status == 200 else errors).append(dt if status == 200 else f"{name}: {status}")
        if conn is not None:
            conn.close()
        with lock:
            ends.append(time.time())

    threads = [threading.Thread(target=client, args=(i,)) for i in ids]
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return samples, errors, max(ends) if ends else time.time(), time.process_time() - cpu0


def load(base, cookie, urls, clients, per_client, processes=1, keepalive=True):
    """`clients` concurrent clients in `processes` load-generator processes (threads in
    each; several processes so that one Python client process's GIL is not the limit),
    each requesting the URLs in turn `per_client` times. Returns (samples by page,
    errors, wall seconds, client CPU seconds)."""
    processes = max(1, min(processes, clients))
    groups = [list(range(clients))[g::processes] for g in range(processes)]
    start_at = time.time() + (1.0 if processes > 1 else 0.0)
    if processes == 1:
        parts = [_client_threads(base, cookie, urls, groups[0], per_client, start_at, keepalive)]
    else:
        ctx = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=ctx) as pool:
            futures = [pool.submit(_client_threads, base, cookie, urls, ids, per_client, start_at, keepalive)
                       for ids in groups]
            parts = [f.result() for f in futures]
    samples = {name: [] for name in urls}
    errors, cpu, end = [], 0.0, start_at
    for part_samples, part_errors, part_end, part_cpu in parts:
        for name, values in part_samples.items():
            samples[name] += values
        errors += part_errors
        cpu += part_cpu
        end = max(end, part_end)
    return samples, errors, end - start_at, cpu


def _cpu_seconds(pids):
    """user + system CPU seconds of these processes so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _other_load(ours=()):
    """Other busy processes right now (e.g. a model being trained): 'pid %cpu command'.
    %cpu is ps's average over each process's life."""
    out = subprocess.run(["ps", "-eo", "pid=,pcpu=,args=", "--sort=-pcpu"], capture_output=True, text=True).stdout
    busy = []
    for line in out.splitlines()[:10]:
        pid, cpu, args = line.split(None, 2)
        if float(cpu) >= 20 and int(pid) not in ours and int(pid) != os.getpid():
            busy.append(f"{pid} {cpu}% `{args[:70]}`")
    return busy


def _stats(samples):
    return {name: {"n": len(v), "p50_ms": round(percentile(v, 0.5), 1), "p95_ms": round(percentile(v, 0.95), 1),
                   "max_ms": round(max(v), 1)} for name, v in samples.items() if v}


def measure(mode, url, urls, clients, per_client, processes, client_processes=4, keepalive=True):
    """Start the app in `mode`, warm it up, measure one client then `clients` clients."""
    if mode == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        server = Server(url, redis_url=REDIS_URL, log_path=ROOT / "var" / "bench-web-server-redis.log",
                        extra_env={"WEB_CONCURRENCY": processes} if processes else None)
    else:
        server = Server(url, log_path=ROOT / "var" / "bench-web-server-embedded.log")
    try:
        pids = server.processes()
        cookie = login(server.base, "bench", "bench-pw")
        load(server.base, cookie, urls, 4, 3 * len(urls), keepalive=keepalive)  # warm-up: every page, process
        single, single_errors, _, _ = load(server.base, cookie, urls, 1, 5 * len(urls), keepalive=keepalive)
        load_before = os.getloadavg()
        busy = _other_load(ours=set(pids))
        cpu0 = _cpu_seconds(pids)
        samples, errors, wall, client_cpu = load(server.base, cookie, urls, clients, per_client, client_processes,
                                                 keepalive)
        cpu = _cpu_seconds(pids) - cpu0
        load_after = os.getloadavg()
    finally:
        server.stop()
    total = sum(len(v) for v in samples.values())
    return {
        "mode": mode, "processes": len(pids) if mode == "embedded" else len(pids) - 1,
        "server": "daphne" if mode == "embedded" else "uvicorn",
        "clients": clients, "requests": total, "errors": len(errors) + len(single_errors),
        "error_samples": (errors + single_errors)[:5], "wall_seconds": round(wall, 1),
        "throughput_rps": round(total / wall, 1), "server_cpu_ms_per_request": round(cpu * 1000 / max(total, 1), 1),
        "client_cpu_ms_per_request": round(client_cpu * 1000 / max(total, 1), 1),
        "client_processes": client_processes, "keepalive": keepalive,
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
        "other_busy_processes": busy, "pages": _stats(samples), "single_client": _stats(single),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests-per-client", type=int, default=50)
    ap.add_argument("--modes", default="embedded,redis")
    ap.add_argument("--processes", type=int, default=None, help="WEB_CONCURRENCY in Redis mode")
    ap.add_argument("--client-processes", type=int, default=4, help="load-generator processes")
    ap.add_argument("--no-keepalive", action="store_true", help="a new TCP connection per request")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    recreate_database(DB_NAME)
    url = pg_url(DB_NAME)
    results = []
    try:
        setup_django(url)
        t0 = time.time()
        experiments = seed()
        seed_s = time.time() - t0
        from django.db import connection

        connection.close()
        exp = experiments[0]
        urls = {
            "task list": "/tasks/",
            "experiment list": "/experiments/",
            "experiment page": f"/experiments/{exp.pk}/",
            "results.json": f"/experiments/{exp.pk}/results.json",
            "history.json": f"/experiments/{exp.pk}/history.json",
            "per-example json": f"/experiments/{exp.pk}/examples.json?eval_task={exp.train_task.name}&n=4&seed=0",
        }
        for mode in modes:
            results.append(measure(mode, url, urls, args.clients, args.requests_per_client, args.processes,
                                   args.client_processes, not args.no_keepalive))
    finally:
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            recreate_database(DB_NAME, drop_only=True)

    for r in results:
        r["all_under_target"] = all(p["p95_ms"] < TARGET_MS for p in r["pages"].values())
    summary = {"benchmark": "web_latency", "runs_seeded": 1000, "seed_seconds": round(seed_s, 1),
               "target_p95_ms": TARGET_MS, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "modes": results}
    print(json.dumps(summary, indent=1))
    if not args.no_write:
        update_benchmarks_md("Web page latency", _markdown(summary, urls, args))
    return 0 if not any(r["errors"] for r in results) else 1


def _mode_name(r):
    if r["mode"] == "embedded":
        return "embedded (1 daphne process)"
    return f"Redis mode ({r['processes']} uvicorn processes)"


def _markdown(summary, urls, args):
    res = summary["modes"]
    head = "| Page | URL | " + " | ".join(f"{_mode_name(r)} p50 ms | p95 ms | 1 client p50 ms" for r in res) + " |"
    sep = "|---|---|" + "---|---|---|" * len(res)
    rows = []
    for name in urls:
        cells = []
        for r in res:
            p, one = r["pages"].get(name), r["single_client"].get(name)
            cells += [str(p["p50_ms"]) if p else "-", str(p["p95_ms"]) if p else "-", str(one["p50_ms"]) if one else "-"]
        rows.append(f"| {name} | `{urls[name].split('?')[0]}` | " + " | ".join(cells) + " |")
    lines = []
    for r in res:
        verdict = "**all pages under the target**" if r["all_under_target"] else "**target missed**"
        worst = max(p["p95_ms"] for p in r["pages"].values())
        busy = "; other busy processes (ps %CPU): " + ", ".join(r["other_busy_processes"]) \
            if r["other_busy_processes"] else "; no other busy process"
        lines.append(f"- {_mode_name(r)}: {r['requests']} requests, {r['errors']} errors, "
                     f"{r['throughput_rps']} requests/s, server CPU {r['server_cpu_ms_per_request']} ms per request "
                     f"(load generator {r['client_cpu_ms_per_request']} ms), "
                     f"worst p95 {worst} ms: {verdict}. 1-minute load average before/after: "
                     f"{r['loadavg_before'][0]} / {r['loadavg_after'][0]}{busy}.")
    if any(r["other_busy_processes"] for r in res):
        lines.append("\n**Contended run**: another job was using the CPU during the measurement (see above), "
                     "so these latencies are higher than the app alone would give on this machine.")
    ratio = ""
    if len(res) == 2:
        ratio = "\n\np95 ratio (" + _mode_name(res[0]) + " / " + _mode_name(res[1]) + ", same run): " + ", ".join(
            f"{name} {res[0]['pages'][name]['p95_ms'] / res[1]['pages'][name]['p95_ms']:.1f}x"
            for name in urls if name in res[0]["pages"] and name in res[1]["pages"]) + "."
    return f"""
`python -m bench.web_latency` ({summary['date']}, {summary['machine']}; the load generator runs on the
same machine). Postgres database `{DB_NAME}` seeded with 1,000 done runs (10 experiments x 100 runs; each
run has its metrics, {LAYERS} similarity layers, {PREDICTIONS} predictions, {POINTS} loss points and 5 events).
Each mode was measured in this one run against the same database, after a warm-up: one client alone,
then {args.clients} concurrent signed-in clients in a closed loop ({args.requests_per_client} requests each, every page
in turn), run as threads of {res[0]['client_processes']} load-generator processes (so that one Python process's GIL
does not limit the load) on {"keep-alive" if res[0]["keepalive"] else "new"} loopback HTTP connections. The load
generator shares the 2 CPUs with the app and Postgres. The experiment measured has 100 runs.
Target: p95 < {TARGET_MS} ms.

- embedded: `python -m webapp.serve` without `REDIS_URL` (what `make run` starts): one daphne process,
  in-memory channel layer, local-memory cache.
- Redis mode: the same command with `REDIS_URL` (and a Postgres `DATABASE_URL`): uvicorn with
  `WEB_CONCURRENCY` worker processes, channels_redis, Redis cache.
- Both: a psycopg connection pool per process, Django's middleware and view run in one worker thread per
  request, at most `WEB_THREADS` (default 4) requests per process in Django code at once; results.json,
  per-example JSON, a finished experiment's history and its runs-table rows come from the cache (keyed by
  the experiment's results version) after their first request.

{head}
{sep}
{chr(10).join(rows)}

{chr(10).join(lines)}{ratio}
"""


if __name__ == "__main__":
    raise SystemExit(main())
