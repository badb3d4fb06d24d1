"""Command line: `python -m workers.engine compare CONFIG --out RESULTS.json`,
`python -m workers.engine tasks [--json]`, `python -m workers.engine heldout`."""
import argparse
import json
import sys
import time
from pathlib import Path

from .errors import EngineError


def cmd_tasks(args) -> int:
    from .tasks import builtin_tasks

    tasks = builtin_tasks()
    rows = [{"name": t["name"], "kind": t["kind"], "labels": t.get("labels", []), "held_out": t.get("held_out", False),
             "pool_size": len(t["examples"]), "eval_size": len(t.get("eval_examples", [])),
             "description": t.get("description", "")} for t in tasks]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        flag = "held-out" if r["held_out"] else "seen    "
        print(f"{r['name']:<26} {flag} labels={','.join(r['labels']):<22} pool={r['pool_size']:<4} {r['description']}")
    return 0


def cmd_compare(args) -> int:
    from .config import load_config
    from .display import ProgressDisplay, summary_table
    from .runner import adapter_overlaps, aggregate, execute_run, plan_runs
    from .validation import require_valid

    cfg = require_valid(load_config(args.config))
    keys = plan_runs(cfg)
    display = ProgressDisplay(len(keys))
    start = time.time()
    runs = []
    for i, key in enumerate(keys):
        display.start_run(i)
        for r in execute_run(cfg, key, display, None, args.cache_dir):
            r["run_index"] = i
            runs.append(r)
    agg = aggregate(runs)
    result = {"config": cfg.to_dict(), "runs": runs, "aggregate": agg, "adapter_overlap": adapter_overlaps(runs),
              "wall_seconds": time.time() - start}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(summary_table(agg))
    print(f"\n{len(runs)} results from {len(keys)} runs in {result['wall_seconds']:.1f} s"
          + (f"; written to {args.out}" if args.out else ""))
    return 0


def cmd_heldout(args) -> int:
    from .heldout_eval import heldout_icl_curve

    curve = heldout_icl_curve(args.model, n_tasks=args.tasks, n_queries=args.queries)
    print(json.dumps(curve, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workers.engine", description="ICL / SFT / IA2 lab bench engine")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="run a grid of method x N x seed and write RESULTS.json")
    c.add_argument("config", help="YAML or JSON experiment config")
    c.add_argument("--out", help="where to write the results JSON")
    c.add_argument("--cache-dir", default="var/cache", help="where base-model ICL work and adapters are kept")
    c.set_defaults(func=cmd_compare)
    t = sub.add_parser("tasks", help="list the built-in task packs")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_tasks)
    h = sub.add_parser("heldout", help="held-out k-shot ICL curve of a model on the embedded world")
    h.add_argument("--model", default="embedded")
    h.add_argument("--tasks", type=int, default=20)
    h.add_argument("--queries", type=int, default=100)
    h.set_defaults(func=cmd_heldout)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
