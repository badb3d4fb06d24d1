"""The mutation score of the modules whose rules the suite must pin down, written into the
"Mutation score" section of BENCHMARKS.md.

    python -m bench.mutation_score            (what `make mutation` runs: a fresh mutmut run, then the report)
    python -m bench.mutation_score --report   (the report of the last run in mutants/, without running)
    python -m bench.mutation_score --incremental  (after adding tests: keep mutants/, test again the
        mutants of functions that changed since, and every mutant the last run did not kill)

mutmut 3 (requirements-mutation.txt) is configured in setup.cfg: the modules it mutates and
the fast tests it runs. A mutant is killed when a test fails on it; one that makes the tests
run past mutmut's time limit (an endless loop) counts as killed too, and the report shows how
many did. Every other mutant (survived, or no test calls its function) counts against the
score and is listed by name: `mutmut show NAME` prints its diff. A fresh run removes mutants/
first, because mutmut keeps the verdicts of unchanged functions even when the tests changed.
Exit status 1 when the score is under --min (default 0.90).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict

from bench.webcommon import ROOT, update_benchmarks_md

TITLE = "Mutation score"
DETECTED = ("killed", "timeout")
RESULT_LINE = re.compile(r"^\s*(?P<name>\S+): (?P<status>.+)$")
# workers.engine.stats.x_spread__mutmut_3, workers.engine.stats.xǁSpreadǁas_dict__mutmut_1
MODULE_OF = re.compile(r"^(?P<module>.+?)\.x(?:_|ǁ)")


def mutmut(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # 2 cores, shared: one thread
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=ROOT, env=env, text=True, **kw)


def _run(*names: str) -> None:
    done = mutmut("run", "--max-children", "1", *names, stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"mutmut run failed (exit {done.returncode}); run it by hand to see why: "
                         ".venv/bin/mutmut run --max-children 1")


def run_mutmut() -> float:
    """A fresh run, one mutant at a time; returns its wall time in seconds."""
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    start = time.time()
    _run()
    return time.time() - start


def rerun_not_killed() -> float:
    """mutmut's incremental mode: a plain run tests the mutants of functions that changed again
    (and maps new tests to functions); killed verdicts stand, as tests were only added; then the
    mutants not killed are named, and run against the new tests."""
    start = time.time()
    _run()
    not_killed = [name for name, status in read_results().items() if status not in DETECTED]
    if not_killed:
        _run(*not_killed)
    return time.time() - start


def read_results() -> dict[str, str]:
    """{mutant name: status} of every mutant of the last run."""
    out = mutmut("results", "--all", "true", capture_output=True, check=True).stdout
    results = {}
    for line in out.splitlines():
        m = RESULT_LINE.match(line)
        if m:
            results[m["name"]] = m["status"].strip()
    if not results:
        raise SystemExit("mutmut reported no mutants: run `python -m bench.mutation_score` (without --report) first")
    return results


def module_of(name: str) -> str:
    m = MODULE_OF.match(name)
    return m["module"] if m else name.rsplit(".", 1)[0]


def pragmas() -> list[str]:
    """Lines excluded from mutation (`# pragma: no mutate`), with the reason their comment gives."""
    from configparser import ConfigParser

    cfg = ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    found = []
    for path in cfg.get("mutmut", "only_mutate").split():
        for number, line in enumerate((ROOT / path).read_text().splitlines(), 1):
            if "pragma: no mutate" in line:
                found.append(f"{path}:{number}: `{line.strip()}`")
    return found


def report(results: dict[str, str], seconds: float | None, mode: str = "fresh") -> tuple[str, float]:
    by_module: dict[str, Counter] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for name, status in sorted(results.items()):
        by_module[module_of(name)][status] += 1
        if status not in DETECTED:
            survivors[status].append(name)
    total = len(results)
    detected = sum(1 for s in results.values() if s in DETECTED)
    score = detected / total
    rows = ["| module | mutants | killed | of which timeout | not killed | score |", "|---|---:|---:|---:|---:|---:|"]
    for module, counts in sorted(by_module.items()):
        n = sum(counts.values())
        k = sum(counts[s] for s in DETECTED)
        rows.append(f"| `{module}` | {n} | {k} | {counts['timeout']} | {n - k} | {k / n:.1%} |")
    timeouts = sum(1 for s in results.values() if s == "timeout")
    rows.append(f"| **all** | **{total}** | **{detected}** | **{timeouts}** | **{total - detected}** "
                f"| **{score:.1%}** |")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    took = f", {mode} run, {seconds / 60:.0f} min" if seconds else ""
    lines = [
        f"`make mutation` (`python -m bench.mutation_score`; {when}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs{took}): mutmut {mutmut_version()} over the modules and with the tests that "
        "setup.cfg names, one mutant at a time. Killed: a test fails on the mutant (or the tests run past "
        "mutmut's time limit on it). Score = killed / all mutants.",
        "",
        *rows,
        "",
    ]
    excluded = pragmas()
    if excluded:
        lines += ["Lines excluded as equivalent (`# pragma: no mutate`; the comment on each says why):", ""]
        lines += [f"- {e}" for e in excluded] + [""]
    if survivors:
        lines.append("Not killed, by name: `PREFIX{a,b}` stands for `PREFIXa` and `PREFIXb` "
                     "(`.venv/bin/mutmut show NAME` prints the change):")
        lines.append("")
        for status, names in sorted(survivors.items()):
            lines.append(f"- {status} ({len(names)}): " + ", ".join(_brace(names)))
    else:
        lines.append("Every mutant was killed.")
    return "\n".join(lines), score


def _brace(names: list[str]) -> list[str]:
    """`workers.engine.stats.x_spread__mutmut_{3,7}` for the mutants 3 and 7 of one function."""
    numbers: dict[str, list[int]] = defaultdict(list)
    for name in names:
        prefix, number = name.rsplit("_", 1)
        numbers[prefix + "_"].append(int(number))
    return [f"`{prefix}{ns[0]}`" if len(ns) == 1 else f"`{prefix}{{{','.join(map(str, sorted(ns)))}}}`"
            for prefix, ns in sorted(numbers.items())]


def mutmut_version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", action="store_true", help="report the last run in mutants/ without running")
    parser.add_argument("--min", type=float, default=0.90, help="exit 1 under this score (default 0.90)")
    parser.add_argument("--incremental", action="store_true",
                        help="keep mutants/ and test again only what changed or was not killed")
    args = parser.parse_args(argv)
    seconds = None if args.report else rerun_not_killed() if args.incremental else run_mutmut()
    body, score = report(read_results(), seconds, "incremental" if args.incremental else "fresh")
    update_benchmarks_md(TITLE, body)
    print(body)
    if score < args.min:
        print(f"mutation score {score:.1%} is under {args.min:.0%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
