"""Held-out k-shot ICL curve of the shipped embedded model (20 held-out tasks x
100 queries, k = 0, 1, 2, 4, 8, 16; accuracy and ECE), written to the model
directory (heldout_curve.json) and to BENCHMARKS.md.

    python -m bench.heldout_curve
"""
import json
import time

from bench.webcommon import update_benchmarks_md
from workers.engine.heldout_eval import KS, heldout_icl_curve
from workers.engine.models import EMBEDDED_DIR


def main() -> None:
    t = time.perf_counter()
    curve = heldout_icl_curve("embedded", n_tasks=20, n_queries=100)
    seconds = time.perf_counter() - t
    (EMBEDDED_DIR / "heldout_curve.json").write_text(json.dumps(curve, indent=1) + "\n")
    log = json.loads((EMBEDDED_DIR / "training_log.json").read_text())
    rows = "\n".join(f"| {k} | {curve[str(k)]['accuracy']:.3f} | {curve[str(k)]['ece']:.3f} |" for k in KS)
    body = f"""`python -m bench.heldout_curve` ({time.strftime('%Y-%m-%d')}; {seconds:.0f} s on CPU).
Embedded model: {log['n_parameters']:,} parameters, trained in {log['train_seconds'] / 60:.1f} min on 2 CPU cores.
20 held-out tasks (label tuples made only of label words never used together in training,
2- and 3-way) x 100 queries each; mean chance = {curve['0']['chance']:.3f}. Accuracy and equal-width ECE
(15 bins) per number of demonstrations k, averaged over tasks:

| k | accuracy | ECE |
|---|---|---|
{rows}
"""
    print(json.dumps(curve, indent=1))
    update_benchmarks_md("Embedded model: held-out ICL curve", body)


if __name__ == "__main__":
    main()
