"""The standard comparison on the real pretrained SmolLM2-135M, measured in one run:
icl, sft, ia2, ia2-sft; N=4; 3 seeds; 200 evaluation queries; similarity on 50; on the WordNet
pack `wordnet-animal-or-plant` (natural labels, real English glosses). It runs
`python -m workers.engine compare` in a fresh process with a fresh cache, so the wall time
includes model loading and every stage, and writes the "SmolLM2: standard comparison (N=..,
device)" section of BENCHMARKS.md: wall time, accuracy / ECE per method (mean ± sample sd over
seeds) and the per-layer cosine similarity to ICL activations over the 30 layers. `--device` and
`--dtype` are the engine's (auto: CUDA in bf16 where there is a GPU, else the CPU in fp32).

    python -m bench.smollm2_compare [--seeds 3] [--n 4] [--task wordnet-animal-or-plant]
        [--device auto|cpu|cuda] [--dtype auto|fp32|bf16]
"""
import argparse
import os
import platform
import time

from bench.engine_speed import standard_comparison
from bench.smollm2_curve import where as device_words
from bench.webcommon import update_benchmarks_md

TITLE = "SmolLM2: standard comparison"


def where(device: str, dtype: str) -> tuple:
    """(CPU or CUDA for the section title, the device in words) for the device the engine will pick."""
    from workers.engine.model_loading import pick_device, pick_dtype

    dev = pick_device(device)
    return ("CUDA" if dev.startswith("cuda") else "CPU"), device_words(dev, pick_dtype(dev, dtype))


def run(task: str, n: int, seeds: int, device: str = "auto", dtype: str = "auto") -> dict:
    config = {"model": "smollm2-135m", "task": task, "methods": ["icl", "sft", "ia2", "ia2-sft"], "n": n,
              "seeds": seeds, "eval_size": 200, "similarity_size": 50, "device": device, "dtype": dtype}
    return {"config": config, **standard_comparison(config)}


def _fmt(stat, scale=1.0, digits=3):
    if not stat:
        return "–"
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def report(measured: dict, machine: str) -> str:
    cfg = measured["config"]
    rows = [r for r in measured["aggregate"] if r["eval_task"] == cfg["task"]]
    lines = [
        f"`python -m bench.smollm2_compare --n {cfg['n']} --seeds {cfg['seeds']} --task {cfg['task']} "
        f"--device {cfg['device']} --dtype {cfg['dtype']}` "
        f"({time.strftime('%Y-%m-%d')}, {platform.machine()}, {machine}, "
        f"load average {os.getloadavg()[0]:.1f} at the end). SmolLM2-135M-Instruct converted from the pinned "
        "wheel's GGUF; methods icl, sft, ia2, ia2-sft; 200 evaluation queries; similarity on 50.",
        "",
        f"**Wall time: {measured['wall_seconds'] / 60:.1f} min** (a fresh process and cache: model loading, "
        "ICL work, every training stage, evaluation; target on 2 CPU cores < 15 min at N=4 with 3 seeds).",
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
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args(argv)
    label, machine = where(args.device, args.dtype)
    measured = run(args.task, args.n, args.seeds, args.device, args.dtype)
    body = report(measured, machine)
    print(body)
    update_benchmarks_md(f"{TITLE} (N={args.n}, {label})", body)


if __name__ == "__main__":
    main()
