"""Terminal display for the CLI: a one-line progress bar per stage and the
summary table at the end."""
import sys
import time

from .config import METHOD_TITLES
from .metric_table import RUN_METRICS, metric
from .stats import SPREAD_CONVENTION


class ProgressDisplay:
    """Prints `[run i/N] method N=.. seed=.. stage  [#####.....] 12/50 loss 0.123`."""

    def __init__(self, total_runs: int, stream=sys.stderr):
        self.total_runs = total_runs
        self.stream = stream
        self.tty = stream.isatty()
        self.run_index = 0
        self._last_line = ""
        self._last_print = 0.0
        self._last_stage = None

    def start_run(self, index: int) -> None:
        self.run_index = index

    def __call__(self, event) -> None:
        run = event.run
        frac = event.step / event.total if event.total else 1.0
        bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
        vals = " ".join(f"{k} {v:.4f}" for k, v in event.values.items() if isinstance(v, (int, float)))
        line = (f"[run {self.run_index + 1}/{self.total_runs}] {run.get('method', '')} N={run.get('n', '')} "
                f"seed={run.get('seed', '')} {event.stage:<12} [{bar}] {event.step}/{event.total} {vals}")
        now = time.monotonic()
        stage_key = (self.run_index, event.stage)
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(len(self._last_line)))
            if event.stage == "done":
                self.stream.write("\n")
            self.stream.flush()
        elif stage_key != self._last_stage or now - self._last_print > 5 or event.step >= event.total:
            self.stream.write(line + "\n")
            self.stream.flush()
            self._last_print = now
        self._last_stage = stage_key
        self._last_line = line[:150]


def _fmt(value, digits=3) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        ci = value.get("ci95")
        ci_text = f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else ""
        return f"{value['mean']:.{digits}f}±{value['std']:.{digits}f}{ci_text}"
    return f"{value:.{digits}f}"


def summary_table(aggregate: list[dict]) -> str:
    """Mean ± sample sd (ddof=1) [95% CI] over seeds per (eval task, N, method), one column
    per run metric of the metric table under its label; the caption states the convention."""
    header = ["eval task", "N", "method", "seeds"] + [metric(m).label for m in RUN_METRICS]
    rows = [header]
    for a in sorted(aggregate, key=lambda r: (r["eval_task"], r["n"])):
        rows.append([a["eval_task"], str(a["n"]), METHOD_TITLES.get(a["method"], a["method"]), str(a["seeds"])]
                    + [_fmt(a.get(m)) for m in RUN_METRICS])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines + [f"({SPREAD_CONVENTION})"])
