"""Web page latency at the scale of one team's data: seed 1,000 finished runs (10
experiments x 100 runs, each with results, per-layer similarity, 40 predictions, loss points
and events), a task of 100,000 examples (bulk-copied) and one more experiment of queued
embedded-model runs into a dedicated Postgres database (`labbench_bench`, created and dropped
here), then, in one run, start the app in each serving mode and measure p50/p95 latency of
the main pages (the big task's paginated page, a middle and the last page of its examples,
a search in them) with 20 concurrent signed-in clients on loopback (and with one client):

- `embedded`: `python -m webapp.serve` without REDIS_URL: one uvicorn process (what
  `make run` starts; the in-memory channel layer needs a single process);
- `redis`: the same command with REDIS_URL: uvicorn with WEB_CONCURRENCY worker
  processes (`--processes`, default the app's default), Redis cache and channel layer, and a
  real Celery worker (`celery -A webapp.celery_app worker -Q cpu`) executing the queued
  embedded-model experiment during the whole measurement (its progress events go through
  channels_redis to the same Redis); the summary says for which share of the measurement a
  run of it was running.

Target (issue 10): p95 < 300 ms for every page; the stricter 150 ms line is reported too.
Prints a JSON summary and rewrites the `## Web page latency` section of BENCHMARKS.md
with the figures of this run, the mode, the processes and the machine load.

    .venv/bin/python -m bench.web_latency [--modes embedded,redis] [--processes N]
        [--requests-per-client 100] [--keep-db] [--no-write]
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
import sys
import tempfile
import threading
import time
from pathlib import Path

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
TARGET_MS = 300  # issue 10: p95 < 300 ms for every page on these 2 cores
STRICT_MS = 150  # the earlier, stricter line
BIG_TASK_EXAMPLES = 100_000
EXAMPLES_PER_PAGE = 100  # webapp/lab/views/tasks.py EXAMPLES_PER_PAGE
NEEDLE_EVERY = 1000  # one big-task example in this many contains the searched word


def seed():
    """10 experiments x (4 methods x 5 N x 5 seeds) = 1,000 done runs with everything a page shows."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from webapp.lab.models import EvalResult, Example, Experiment, LayerSimilarity, MetricPoint, Prediction, Run, \
        RunEvent, Task
    from webapp.lab.services import snapshots
    from webapp.lab.services.config import build_config

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
        # the config a launch from the form stores, its pools by reference (so the page shows
        # and parses it as it would any launched experiment's)
        config = build_config(model_name="embedded", train_task=tasks[e], eval_tasks=[], methods=METHODS,
                              n_values=N_VALUES, seeds=SEEDS, icl_demos=None, eval_size=PREDICTIONS,
                              adapter_type="lora", lora_r=8, lora_alpha=8, target_modules=["q_proj", "k_proj", "o_proj"])
        exp = Experiment.objects.create(owner=user, name=f"bench {e}", train_task=tasks[e], methods=METHODS,
                                        n_values=N_VALUES, seeds=SEEDS, eval_size=PREDICTIONS,
                                        target_modules=["q_proj", "k_proj", "o_proj"],
                                        config=snapshots.by_reference(config))
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


def seed_big_task(user):
    """A task of BIG_TASK_EXAMPLES examples (nine in ten in the pool), written with one COPY."""
    from django.db import connection

    from webapp.lab.models import Example, Task

    task = Task.objects.create(owner=user, name="big-task", labels=["yes", "no"])
    table = Example._meta.db_table
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f'COPY "{table}" (task_id, position, split, input, output) FROM STDIN') as copy:
            for i in range(BIG_TASK_EXAMPLES):
                word = "needle" if i % NEEDLE_EVERY == 7 else "hay"
                copy.write_row((task.pk, i, "eval" if i % 10 == 0 else "pool",
                                f"example {i} of the big task, a line of {word} text", "yes" if i % 2 else "no"))
        cursor.execute(f'VACUUM ANALYZE "{table}"')
    Task.examples_changed([task.pk])  # a COPY bypasses the model: count as every write path does
    task.refresh_from_db()
    return task


def seed_running_experiment(user):
    """An experiment of queued embedded-model runs (SFT and IA2 variants, N up to 64, five
    seeds: far more work than one measurement lasts), for the Celery worker of Redis mode to
    execute while the pages are measured; the web server's own executor is "manual"."""
    from webapp.lab.models import Example, Task
    from webapp.lab.experiment_spec import ExperimentSpec
    from webapp.lab.services.config import build_config
    from webapp.lab.services.launch import launch
    from webapp.lab.services.planning import Plan
    from webapp.teams.services import personal_team
    from workers.engine.plan import plan_runs
    from workers.engine.tasks import get_task

    pack = get_task("animal-or-fruit")
    task = Task.objects.create(owner=user, name="running-task", labels=list(pack.labels),
                               input_template=pack.input_template)
    Example.objects.bulk_create(
        [Example(task=task, position=i, input=e.input, output=e.output) for i, e in enumerate(pack.examples)]
        + [Example(task=task, position=len(pack.examples) + i, split="eval", input=e.input, output=e.output)
           for i, e in enumerate(pack.eval_examples)])
    spec = ExperimentSpec(name="running", model_name="embedded", train_task=task.pk, eval_tasks=[task.pk],
                          methods=["sft", "ia2", "ia2-sft"], n_values=[16, 32, 64], seeds=5, eval_size=200,
                          adapter_type="lora", lora_r=8, lora_alpha=8, target_modules=["q_proj", "k_proj", "o_proj"])
    config = build_config(spec, train_task=task, eval_tasks=[])
    return launch(user, personal_team(user), Plan(spec, task, [task], config, plan_runs(config)))


class BenchWorker:
    """A real Celery worker of Redis mode (`-Q cpu`, one process, torch on one thread)
    executing the running experiment's runs while the pages are measured."""

    def __init__(self, database_url, log_path, media_root):
        env = {k: v for k, v in os.environ.items() if k not in ("LAB_EXECUTOR",)}
        env.update(DATABASE_URL=database_url, REDIS_URL=REDIS_URL, DJANGO_SETTINGS_MODULE="webapp.settings",
                   PYTHONPATH=str(ROOT), SECRET_KEY=env.get("SECRET_KEY", "bench-secret-key"),
                   MEDIA_ROOT=str(media_root), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", LOG_LEVEL="WARNING")
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "cpu", "--concurrency", "1",
             "-P", "solo", "-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def send(self, run_ids):
        """Queue the runs on the worker's broker (by task name, as the app's dispatcher does)."""
        from webapp.celery_app import EXECUTE_RUN, app

        app.conf.broker_url = REDIS_URL
        app._pool = None
        app.amqp._producer_pool = None
        for run_id in run_ids:
            app.send_task(EXECUTE_RUN, args=[run_id], queue="cpu")

    def stop(self):
        self.proc.kill()  # the database is dropped afterwards; a warm shutdown would finish the run first
        self.proc.wait(30)
        self.log.close()


class RunningMonitor:
    """Samples, every half second while the pages are measured, how many runs of the
    experiment are running."""

    def __init__(self, experiment_id):
        self.experiment_id, self.samples = experiment_id, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        from django.db import connection

        from webapp.lab.models import Run

        while not self._stop.is_set():
            self.samples.append(Run.objects.filter(experiment_id=self.experiment_id, state=Run.RUNNING).count())
            self._stop.wait(0.5)
        connection.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def summary(self):
        running = sum(1 for c in self.samples if c > 0)
        return {"samples": len(self.samples), "share_running": round(running / max(len(self.samples), 1), 3)}


def wait_until_running(experiment_id, timeout=180):
    from webapp.lab.models import Run

    deadline = time.time() + timeout
    while time.time() < deadline:
        if Run.objects.filter(experiment_id=experiment_id, state=Run.RUNNING).exists():
            return
        time.sleep(0.5)
    raise RuntimeError(f"no run of the experiment started within {timeout} s (see var/bench-web-worker.log)")


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


def _pids_named(*names):
    """Process ids of the running programs with these names (Postgres backends, redis-server)."""
    out = subprocess.run(["ps", "-C", ",".join(names), "-o", "pid="], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _other_load(ours=()):
    """Other busy processes right now (e.g. a model being trained): 'pid %cpu command'.
    %cpu is ps's average over each process's life."""
    out = subprocess.run(["ps", "-eo", "pid=,pcpu=,args=", "--sort=-pcpu"], capture_output=True, text=True).stdout
    busy = []
    for line in out.splitlines()[:10]:
        pid, cpu, args = line.split(None, 2)
        if args.startswith("ps "):
            continue  # this very listing
        if float(cpu) >= 20 and int(pid) not in ours and int(pid) != os.getpid():
            busy.append(f"{pid} {cpu}% `{args[:70]}`")
    return busy


def _stats(samples):
    return {name: {"n": len(v), "p50_ms": round(percentile(v, 0.5), 1), "p95_ms": round(percentile(v, 0.95), 1),
                   "max_ms": round(max(v), 1)} for name, v in samples.items() if v}


def measure(mode, url, urls, clients, per_client, processes, client_processes=4, keepalive=True, running=None,
            rounds=3):
    """Start the app in `mode`, warm it up, measure one client then `rounds` rounds of
    `clients` clients (pooled for the page figures; each round's worst p95 kept, so the
    spread between rounds is measured, not remembered). In Redis mode a Celery worker
    executes the `running` experiment meanwhile."""
    worker, monitor = None, None
    if mode == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        server = Server(url, redis_url=REDIS_URL, log_path=ROOT / "var" / "bench-web-server-redis.log",
                        extra_env={"WEB_CONCURRENCY": processes} if processes else None)
    else:
        server = Server(url, log_path=ROOT / "var" / "bench-web-server-embedded.log")
    media = tempfile.TemporaryDirectory(prefix="bench-web-media-")
    try:
        pids = server.processes()
        if mode == "redis" and running is not None:
            worker = BenchWorker(url, ROOT / "var" / "bench-web-worker.log", Path(media.name))
            worker.send(running.runs.order_by("id").values_list("id", flat=True))
            wait_until_running(running.pk)
        cookie = login(server.base, "bench", "bench-pw")
        load(server.base, cookie, urls, 4, 3 * len(urls), keepalive=keepalive)  # warm-up: every page, process
        single, single_errors, _, _ = load(server.base, cookie, urls, 1, 5 * len(urls), keepalive=keepalive)
        load_before = os.getloadavg()
        busy = _other_load(ours=set(pids) | ({worker.proc.pid} if worker else set()))
        samples, errors, wall, client_cpu, cpu, worst = {name: [] for name in urls}, [], 0.0, 0.0, 0.0, []
        other_cpu = {}
        with RunningMonitor(running.pk if worker else 0) as monitor:
            for _ in range(rounds):  # back to back on the same server: the spread of one run
                groups = {"postgres": _pids_named("postgres")}
                if mode == "redis":
                    groups.update(redis=_pids_named("redis-server"), worker=[worker.proc.pid] if worker else [])
                cpu0 = _cpu_seconds(pids)
                others0 = {k: _cpu_seconds(v) for k, v in groups.items()}
                part, part_errors, part_wall, part_cpu = load(server.base, cookie, urls, clients, per_client,
                                                              client_processes, keepalive)
                cpu += _cpu_seconds(pids) - cpu0
                for k, v in groups.items():
                    other_cpu[k] = other_cpu.get(k, 0.0) + _cpu_seconds(v) - others0[k]
                worst.append(round(max(percentile(v, 0.95) for v in part.values() if v), 1))
                for name, values in part.items():
                    samples[name] += values
                errors += part_errors
                wall += part_wall
                client_cpu += part_cpu
        load_after = os.getloadavg()
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
        media.cleanup()
    total = sum(len(v) for v in samples.values())
    return {
        "mode": mode, "processes": len(pids) if mode == "embedded" else len(pids) - 1,
        "server": "uvicorn",
        "clients": clients, "requests": total, "errors": len(errors) + len(single_errors),
        "error_samples": (errors + single_errors)[:5], "wall_seconds": round(wall, 1),
        "throughput_rps": round(total / wall, 1), "server_cpu_ms_per_request": round(cpu * 1000 / max(total, 1), 1),
        "client_cpu_ms_per_request": round(client_cpu * 1000 / max(total, 1), 1),
        "other_cpu_ms_per_request": {k: round(v * 1000 / max(total, 1), 2) for k, v in other_cpu.items()},
        "client_processes": client_processes, "keepalive": keepalive,
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in load_after],
        "other_busy_processes": busy, "pages": _stats(samples), "single_client": _stats(single),
        "experiment_running": monitor.summary() if worker else None, "worst_p95_by_round": worst,
    }


def reference_workload_ms(repeats=5):
    """CPU milliseconds of a fixed pure-Python workload (template-like string building,
    dict lookups, JSON): a yardstick of this machine's single-core speed that does not
    depend on the app's code, so that figures from different machines can be compared
    (the same code took 1.2-1.5x more CPU per request on some machines than on others).
    The minimum of `repeats`."""
    rows = [{"name": f"row {i}", "value": i * 0.5, "tags": ["a", "b", str(i)]} for i in range(200)]
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(200):
            "".join(f"<tr><td>{r['name']}</td><td>{r['value']:.2f}</td><td>{', '.join(r['tags'])}</td></tr>"
                    for r in rows)
            json.loads(json.dumps(rows))
            sum(len(k) for r in rows for k in r)
        best = min(best, (time.process_time() - t0) * 1000)
    return round(best, 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests-per-client", type=int, default=100)  # ~167 samples per page per round
    ap.add_argument("--rounds", type=int, default=3, help="measurement rounds per mode (pooled; worst p95 of each)")
    ap.add_argument("--modes", default="embedded,redis")
    ap.add_argument("--processes", type=int, default=None, help="WEB_CONCURRENCY in Redis mode")
    ap.add_argument("--client-processes", type=int, default=4, help="load-generator processes")
    ap.add_argument("--no-keepalive", action="store_true", help="a new TCP connection per request")
    ap.add_argument("--keep-db", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    reference_ms = reference_workload_ms()  # before anything of ours runs

    recreate_database(DB_NAME)
    url = pg_url(DB_NAME)
    results = []
    try:
        setup_django(url)
        t0 = time.time()
        experiments = seed()
        user = experiments[0].owner
        big = seed_big_task(user)
        running = seed_running_experiment(user)
        seed_s = time.time() - t0
        from django.db import connection

        connection.close()
        exp = experiments[0]
        last_page = -(-(big.n_pool + big.n_eval) // EXAMPLES_PER_PAGE)
        assert big.n_pool + big.n_eval == big.examples.count() == BIG_TASK_EXAMPLES
        urls = {
            "task list": "/tasks/",
            "experiment list": "/experiments/",
            "experiment page": f"/experiments/{exp.pk}/",
            "results.json": f"/experiments/{exp.pk}/results.json",
            "history.json": f"/experiments/{exp.pk}/history.json",
            "per-example json": f"/experiments/{exp.pk}/examples.json?eval_task={exp.train_task.name}&n=4&seed=0",
            "task page, 100,000 examples": f"/tasks/{big.pk}/",
            "its examples, middle page": f"/tasks/{big.pk}/?page={last_page // 2}",
            "its examples, last page": f"/tasks/{big.pk}/?page={last_page}",
            "its examples, search": f"/tasks/{big.pk}/?q=needle",
            "running experiment page": f"/experiments/{running.pk}/",
            "running history.json": f"/experiments/{running.pk}/history.json",
        }
        connection.close()
        for mode in modes:
            results.append(measure(mode, url, urls, args.clients, args.requests_per_client, args.processes,
                                   args.client_processes, not args.no_keepalive, running=running,
                                   rounds=args.rounds))
    finally:
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            recreate_database(DB_NAME, drop_only=True)

    for r in results:
        r["all_under_target"] = all(p["p95_ms"] < TARGET_MS for p in r["pages"].values())
        r["all_under_strict"] = all(p["p95_ms"] < STRICT_MS for p in r["pages"].values())
    summary = {"benchmark": "web_latency", "runs_seeded": 1000, "big_task_examples": BIG_TASK_EXAMPLES,
               "seed_seconds": round(seed_s, 1), "target_p95_ms": TARGET_MS, "strict_p95_ms": STRICT_MS,
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
               "reference_workload_ms": reference_ms,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "modes": results}
    print(json.dumps(summary, indent=1))
    if not args.no_write:
        update_benchmarks_md("Web page latency", _markdown(summary, urls, args))
    return 0 if not any(r["errors"] for r in results) else 1


def _mode_name(r):
    if r["mode"] == "embedded":
        return "embedded (1 uvicorn process)"
    return f"Redis mode ({r['processes']} uvicorn processes)"


def _mean_p50(pages):
    return sum(p["p50_ms"] for p in pages.values()) / len(pages)


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
        verdict += f" (under {STRICT_MS} ms: {'all pages' if r['all_under_strict'] else 'not all pages'})"
        if r.get("experiment_running"):
            verdict += (f"; the experiment was running (a Celery worker executing its runs) in "
                        f"{r['experiment_running']['share_running']:.0%} of the samples taken every 0.5 s")
        worst = max(p["p95_ms"] for p in r["pages"].values())
        busy = "; other busy processes (ps %CPU): " + ", ".join(r["other_busy_processes"]) \
            if r["other_busy_processes"] else "; no other busy process"
        rounds = " / ".join(f"{w} ms" for w in r["worst_p95_by_round"])
        cores = r["throughput_rps"] * r["server_cpu_ms_per_request"] / 1000
        lines.append(f"- {_mode_name(r)}: {r['requests']} requests, {r['errors']} errors, "
                     f"{r['throughput_rps']} requests/s, server CPU {r['server_cpu_ms_per_request']} ms per request "
                     f"(load generator {r['client_cpu_ms_per_request']} ms, "
                     + ", ".join(f"{k} {v} ms" for k, v in r["other_cpu_ms_per_request"].items())
                     + f"), so the server used {cores:.2f} of a "
                     f"core's time per second; worst p95 {worst} ms over the pooled rounds (each round's worst p95: "
                     f"{rounds}): {verdict}. 1-minute load average before/after: "
                     f"{r['loadavg_before'][0]} / {r['loadavg_after'][0]}{busy}.")
    if any(r["other_busy_processes"] for r in res):
        lines.append("\n**Contended run**: another job was using the CPU during the measurement (see above), "
                     "so these latencies are higher than the app alone would give on this machine.")
    ratio = ""
    if len(res) == 2:
        ratio = "\n\np95 ratio (" + _mode_name(res[0]) + " / " + _mode_name(res[1]) + ", same run): " + ", ".join(
            f"{name} {res[0]['pages'][name]['p95_ms'] / res[1]['pages'][name]['p95_ms']:.1f}x"
            for name in urls if name in res[0]["pages"] and name in res[1]["pages"]) + "."
    why = []
    for r in res:
        total = r["server_cpu_ms_per_request"] + r["client_cpu_ms_per_request"] + sum(
            r["other_cpu_ms_per_request"].values())
        why.append(f"{_mode_name(r)}: {r['clients']} clients / {r['throughput_rps']} requests/s = "
                   f"{1000 * r['clients'] / r['throughput_rps']:.0f} ms per request in the loop (the pages' p50s "
                   f"average {_mean_p50(r['pages']):.0f} ms), against {_mean_p50(r['single_client']):.1f} ms for one client alone; all the "
                   f"measured processes together used {total:.1f} ms of CPU per request, "
                   f"{r['throughput_rps'] * total / 1000:.2f} of the 2 cores' time per second"
                   + (f" (the one server process, one GIL, can use at most one core: it used "
                      f"{r['throughput_rps'] * r['server_cpu_ms_per_request'] / 1000:.2f})"
                      if r["mode"] == "embedded" else ""))
    explain = ("\n\n**Where the time goes.** The load is a saturating closed loop (no think time), so a page's "
               "latency is mostly time spent queued behind the other clients' requests, not its own work: "
               + "; ".join(why) + ". In Redis mode the Celery worker (at nice 10) takes the CPU the "
               "pages leave; a page's p95 falls as CPU per request falls, about in proportion.")
    return f"""
`python -m bench.web_latency` ({summary['date']}, {summary['machine']}; the load generator runs on the
same machine). Postgres database `{DB_NAME}` seeded with 1,000 done runs (10 experiments x 100 runs; each
run has its metrics, {LAYERS} similarity layers, {PREDICTIONS} predictions, {POINTS} loss points and 5 events),
a task of {BIG_TASK_EXAMPLES:,} examples (its page shows {EXAMPLES_PER_PAGE} per page; the search matches one
example in {NEEDLE_EVERY:,}) and an experiment of 45 queued embedded-model runs. In Redis mode a real Celery
worker (`-Q cpu`, one process, torch on one thread, at the app's default `LAB_WORKER_NICE` of 10) executes that
experiment during the whole measurement, so its progress events are written and broadcast while the pages are
measured; in embedded mode (executor "manual") it stays queued.
Each mode was measured in this one run against the same database, after a warm-up: one client alone,
then {args.rounds} back-to-back rounds of {args.clients} concurrent signed-in clients in a closed loop
({args.requests_per_client} requests each per round, every page in turn; the table pools the rounds, and each round's
worst p95 is listed below it to show the spread), run as threads of {res[0]['client_processes']} load-generator processes (so that one Python process's GIL
does not limit the load) on {"keep-alive" if res[0]["keepalive"] else "new"} loopback HTTP connections. The load
generator shares the 2 CPUs with the app and Postgres (and, in Redis mode, the worker). The finished
experiment measured has 100 runs. Target (issue 10): p95 < {TARGET_MS} ms for every page; the earlier
stricter line of {STRICT_MS} ms is reported too. Machine yardstick: a fixed pure-Python workload (`reference_workload_ms`
in the script, independent of the app's code) took {summary['reference_workload_ms']} ms of CPU on this machine, measured
before the app started; figures from machines with a different yardstick are not comparable (server CPU per request
scales with it).

- embedded: `python -m webapp.serve` without `REDIS_URL` (what `make run` starts): one uvicorn process,
  in-memory channel layer, local-memory cache.
- Redis mode: the same command with `REDIS_URL` (and a Postgres `DATABASE_URL`): uvicorn with
  `WEB_CONCURRENCY` worker processes, channels_redis, Redis cache.
- Both: a psycopg connection pool per process, Django's middleware and view run in one worker thread per
  request, at most `WEB_THREADS` (default 4) requests per process in Django code at once; results.json,
  per-example JSON, a finished experiment's history and its runs-table rows come from the cache (keyed by
  the experiment's results version; a running experiment's rows and history by its latest progress flush,
  every 0.5 s)
  after their first request, a task's pages of examples and its forms too (keyed by its examples version;
  a search is rendered each time); sessions are read from the cache; the task list and the task page read
  each task's stored example counts.

{head}
{sep}
{chr(10).join(rows)}

{chr(10).join(lines)}{ratio}{explain}
"""


if __name__ == "__main__":
    raise SystemExit(main())
