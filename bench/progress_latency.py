"""Progress event latency: a worker-side ProgressRecorder (the same code a Celery job
uses) emits ~500 progress events through the real channel layer (channels_redis on
Redis); a websocket client connected to the running app receives them. The latency
of each event is the receive time minus the emit time (same clock). Uses a dedicated
Postgres database (`labbench_progress`, created and dropped here) and Redis db 14. The
app runs as `python -m webapp.serve` with REDIS_URL set (uvicorn, WEB_CONCURRENCY
processes); the websocket lands on one of them. Prints a JSON summary and updates
`## Progress event latency` in BENCHMARKS.md.

    .venv/bin/python -m bench.progress_latency [--events 500] [--interval 0.02]
"""
import argparse
import json
import os
import platform
import threading
import time

from bench.webcommon import ROOT, Server, WebSocket, login, percentile, pg_url, recreate_database, setup_django, \
    update_benchmarks_md

DB_NAME = "labbench_progress"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
TARGET_MS = 250


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--interval", type=float, default=0.02, help="seconds between emitted events")
    args = ap.parse_args(argv)

    recreate_database(DB_NAME)
    url = pg_url(DB_NAME)
    server = ws = None
    processes = 0
    latencies, missing = [], 0
    try:
        setup_django(url, redis_url=REDIS_URL)
        from django.contrib.auth import get_user_model
        from django.db import connection

        from webapp.lab.models import Example, Experiment, Run, Task
        from webapp.lab.services.events import ProgressRecorder

        user = get_user_model().objects.create_user("bench", password="bench-pw")
        task = Task.objects.create(owner=user, name="bench", labels=["yes", "no"])
        Example.objects.create(task=task, input="x", output="yes")
        exp = Experiment.objects.create(owner=user, train_task=task, methods=["sft"], n_values=[4])
        run = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, state="running")
        connection.close()

        server = Server(url, redis_url=REDIS_URL, log_path=ROOT / "var" / "bench-progress-server.log")
        processes = len(server.processes()) - 1  # uvicorn's worker processes (Redis mode)
        cookie = login(server.base, "bench", "bench-pw")
        ws = WebSocket("127.0.0.1", server.port, f"/ws/experiments/{exp.pk}/", cookie, server.base)
        ws.send_json({"type": "resume", "last_event": 0, "last_point": 0})
        assert ws.receive_json()["type"] == "replay"

        received = {}

        def reader():
            while len(received) < args.events:
                try:
                    msg = ws.receive_json()
                except (OSError, ConnectionError):
                    return
                ev = msg.get("event") or {}
                seq = (ev.get("values") or {}).get("seq")
                if msg.get("type") == "event" and seq is not None:
                    received[int(seq)] = time.time()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        recorder = ProgressRecorder(run, min_interval=0.0)  # every event is flushed and broadcast
        sent = {}
        for i in range(args.events):
            sent[i] = time.time()
            recorder({"stage": "sft", "step": i + 1, "total": args.events, "values": {"seq": i, "loss": 1.0}})
            time.sleep(args.interval)
        t.join(10)
        for i, ts in sent.items():
            if i in received:
                latencies.append((received[i] - ts) * 1000)
            else:
                missing += 1
    finally:
        if ws:
            ws.close()
        if server:
            server.stop()
        from django.db import connections

        connections.close_all()
        recreate_database(DB_NAME, drop_only=True)

    summary = {"benchmark": "progress_latency", "events": args.events, "received": len(latencies),
               "missing": missing, "interval_s": args.interval,
               "p50_ms": round(percentile(latencies, 0.5), 1), "p95_ms": round(percentile(latencies, 0.95), 1),
               "max_ms": round(max(latencies), 1), "target_p95_ms": TARGET_MS,
               "under_target": percentile(latencies, 0.95) < TARGET_MS,
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "date": time.strftime("%Y-%m-%d"),
               "server_processes": processes, "loadavg": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(summary, indent=1))
    update_benchmarks_md("Progress event latency", f"""
`python -m bench.progress_latency` ({summary['date']}, {summary['machine']}; load average
{summary['loadavg'][0]} at the end).
A worker-side `ProgressRecorder` (what a Celery job runs; each event is written to Postgres, then
broadcast) emits {args.events} progress events {int(args.interval * 1000)} ms apart through channels_redis
(Redis); a websocket client connected to the running app (`python -m webapp.serve` in Redis mode:
uvicorn, {processes} worker processes) receives them. Latency = receive
time - emit time (the emit time is taken before the database write). Target: p95 < {TARGET_MS} ms.

| events | received | p50 ms | p95 ms | max ms |
|---|---|---|---|---|
| {args.events} | {len(latencies)} | {summary['p50_ms']} | {summary['p95_ms']} | {summary['max_ms']} |
""")
    return 0 if not missing else 1


if __name__ == "__main__":
    raise SystemExit(main())
