"""A worker process that is reaped but still alive (tests/web/test_fencing.py): it runs
`lifecycle.run_job` on the real database with a stubborn engine that claims the run, writes
one loss point, prints CLAIMED, then waits on stdin while the test reaps the run and lets
another worker finish it. On "go" the engine goes on (more loss points, results, an adapter
artifact) as if nothing had happened; then this process tries the other writes of a worker
directly (its final state, a heartbeat, results, overlaps). It prints RESULT and a JSON
object of what each attempt returned.

Usage: python -m tests.web.stale_worker RUN_ID (DJANGO_SETTINGS_MODULE and DATABASE_URL
in the environment, as tests/web/live.service_env sets them)."""
import json
import sys
from pathlib import Path

STALE_LOSS = 777.0  # the value of every loss point the stale attempt writes after it lost the run
STALE_ACCURACY = 0.123


class StubbornEngine:
    """Follows the engine's contract but never asks whether it should stop."""

    def __init__(self):
        self.run = None

    def execute_run(self, config, key, on_progress=None, should_cancel=None, cache_dir=None):
        from workers.engine.progress import ProgressEvent

        self.run = on_progress.run  # the claimed run, as this attempt holds it
        on_progress(ProgressEvent("sft", 1, 10, {"loss": 111.0}))  # while it owns the run
        print("CLAIMED", flush=True)
        sys.stdin.readline()
        for step in range(2, 7):
            on_progress(ProgressEvent("sft", step, 10, {"loss": STALE_LOSS}))
        adapter = Path(cache_dir) / "stale-adapter.safetensors"
        adapter.write_bytes(b"stale weights")
        return [{"eval_task": config["eval_tasks"][0]["name"], "accuracy": STALE_ACCURACY, "ece": 0.5,
                 "predictions": [{"index": 0, "gold": "a", "predicted": "b", "confidence": 0.5}],
                 "artifacts": [{"kind": "adapter", "path": str(adapter), "bytes": 13, "sha256": ""}]}]


def _refused(call):
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - reported to the test
        return type(exc).__name__
    return "written"


def main(run_id):
    import django

    django.setup()
    from django.utils import timezone

    from webapp.lab.models import Run
    from webapp.lab.services import lifecycle, overlaps
    from webapp.lab.services.results import store_results

    engine = StubbornEngine()
    lifecycle.load_runner = lambda: engine
    outcome = {"run_job": lifecycle.run_job(run_id)}
    run = engine.run
    outcome["set_state_done"] = lifecycle.set_state(run, Run.DONE, message="done") is not None
    outcome["set_state_failed"] = lifecycle.set_state(run, Run.FAILED, message="stale", error="stale") is not None
    outcome["heartbeat"] = lifecycle.Heartbeat(run).owned.update(heartbeat_at=timezone.now())
    outcome["store_results"] = _refused(lambda: store_results(run, [{"eval_task": "x", "accuracy": 0.5}]))
    outcome["overlaps"] = sorted(overlaps.store_for_run(run))
    print("RESULT " + json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
