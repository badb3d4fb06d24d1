"""The standard comparison on the real pretrained SmolLM2-135M (CPU), measured in one run:
icl, sft, ia2, ia2-sft; N=4; 3 seeds; 200 evaluation queries; similarity on 50; on the WordNet
pack `wordnet-animal-or-plant` (natural labels, real English glosses). It runs
`python -m workers.engine compare` in a fresh process with a fresh cache, so the wall time
includes model loading and every stage, and writes the "SmolLM2: standard comparison" section
of BENCHMARKS.md: wall time, accuracy / ECE per method (mean ± sample sd over seeds) and the
per-layer cosine similarity to ICL activations over the 30 layers.

    python -m bench.smollm2_compare [--seeds 3] [--n 4] [--task wordnet-animal-or-plant]
"""
import argparse
import os
import platform
import time

from bench.engine_speed import standard_comparison
from bench.webcommon import update_benchmarks_md

TITLE = "SmolLM2: standard comparison"


def run(task: str, n: int, seeds: int) -> dict:
    config = {"model": "smollm2-135m", "task": task, "methods": ["icl", "sft", "ia2", "ia2-sft"], "n": n,
              "seeds": seeds, "eval_size": 200, "similarity_size": 50}
    return {"config": config, **standard_comparison(config)}


def _fmt(stat, scale=1.0, digits=3):
    if not stat:
        return "–"
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def report(measured: dict) -> str:
    cfg = measured["config"]
    rows = [r for r in measured["aggregate"] if r["eval_task"] == cfg["task"]]
    lines = [
        f"`python -m bench.smollm2_compare --n {cfg['n']} --seeds {len(range(cfg['seeds']))} --task {cfg['task']}` "
        f"({time.strftime('%Y-%m-%d')}, {platform.machine()}, CPU, fp32, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end). SmolLM2-135M-Instruct converted from the pinned "
        "wheel's GGUF; methods icl, sft, ia2, ia2-sft; 200 evaluation queries; similarity on 50.",
        "",
        f"**Wall time: {measured['wall_seconds'] / 60:.1f} min** (a fresh process and cache: model loading, "
        "ICL work, every training stage, evaluation; target < 15 min at N=4 with 3 seeds).",
        "",
        "| method | accuracy | ECE | mean cosine to ICL |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['method']} | {_fmt(r.get('accuracy'))} | {_fmt(r.get('ece'))} | "
                     f"{_fmt(r.get('mean_similarity'))} |")
    lines += ["", "Mean ± sample sd (ddof=1) over seeds. Per-layer cosine similarity to ICL activations "
              "(layer: value), averaged over seeds:", ""]
    for r in rows:
        sims = r.get("layer_similarity")
        if sims:
            lines.append(f"- {r['method']}: " + ", ".join(f"{i}: {v:.2f}" for i, v in enumerate(sims)))
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="wordnet-animal-or-plant")
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    measured = run(args.task, args.n, args.seeds)
    body = report(measured)
    print(body)
    update_benchmarks_md(TITLE, body)


if __name__ == "__main__":
    main()
