"""`make bench`: run every benchmark module in turn (bench/reference_loops.py is the reference code the
reference_speed benchmark runs, not a benchmark itself), each in its own process (one at a time:
they measure speed, so they must not share the machine), and say which failed.

    python -m bench.run_all                 # all of them
    python -m bench.run_all web_latency     # only the named ones

Each module writes its own section of BENCHMARKS.md. The web benchmarks need the local
Postgres and Redis (see docs/web.md); a failed module does not stop the others, and the
exit status is non-zero when any failed."""
import subprocess
import sys
import time

BENCHMARKS = ("engine_speed", "reference_speed", "stage_overhead", "heldout_curve", "smollm2_curve",
              "smollm2_compare", "throughput", "web_latency", "progress_latency")


def run(names):
    failed = []
    for name in names:
        start = time.monotonic()
        print(f"== bench.{name}", flush=True)
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"== bench.{name}: {'ok' if code == 0 else f'failed (exit {code})'} "
              f"in {time.monotonic() - start:.0f} s", flush=True)
        if code:
            failed.append(name)
    return failed


def main(argv=None):
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    failed = run(names)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
