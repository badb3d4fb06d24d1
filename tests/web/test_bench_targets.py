"""`make bench` and the other Makefile targets call modules that exist, and bench.run_all
runs exactly the benchmark modules in bench/ (each one a `main`)."""
import importlib
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_makefile_targets_call_existing_modules():
    modules = re.findall(r"\$\(PY\) -m ([\w.]+)", (ROOT / "Makefile").read_text())
    assert "bench.run_all" in modules
    missing = [m for m in modules if m != "pytest" and importlib.util.find_spec(m) is None]
    assert missing == []


def test_run_all_runs_every_benchmark_module():
    from bench import run_all

    on_disk = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"__init__", "run_all", "webcommon", "reference_loops", "mutation_score"}
    assert set(run_all.BENCHMARKS) == on_disk
    for name in run_all.BENCHMARKS:  # importable without running (the benchmarks are behind main())
        assert callable(importlib.import_module(f"bench.{name}").main), name
    assert run_all.main(["no_such_bench"]) == 2
