"""SmolLM2-135M k-shot ICL curve on the WordNet real-text packs: accuracy and ECE
(equal-width, 15 bins) per number of demonstrations k, each query with its own
k demonstrations from the pool; the remapped pack averaged over both label
orders (counterbalanced). Written to BENCHMARKS.md and bench/out/smollm2_curve.json.

    python -m bench.smollm2_curve [--eval-size 200] [--ks 0,1,2,4,8,16] [--groups remapped,animal-or-plant,...]
        [--device auto|cpu|cuda] [--dtype auto|fp32|bf16] [--batch-size 8]

The JSON is rewritten after every pack, so an interrupted run keeps what it measured.
"""
import argparse
import json
import time
from pathlib import Path

from bench.webcommon import update_benchmarks_md
from workers.engine.kshot import counterbalanced
from workers.engine.model_loading import load_model
from workers.engine.tasks import get_task

GROUPS = {
    "remapped": ["wordnet-remapped-a", "wordnet-remapped-b"],
    "animal-or-plant": ["wordnet-animal-or-plant"],
    "animal-plant-food": ["wordnet-animal-plant-food"],
    "four-kinds": ["wordnet-four-kinds"],
    "person-or-artifact": ["wordnet-person-or-artifact"],
}


def where(device: str, dtype) -> str:
    """The device and precision a model runs on, in words for a report (the GPU's name, or the cores)."""
    import os

    import torch

    precision = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    if str(device).startswith("cuda"):
        return f"{torch.cuda.get_device_name(device)}, {precision}"
    return f"CPU, {precision}, {os.cpu_count()} cores"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-size", type=int, default=200)
    parser.add_argument("--ks", default="0,1,2,4,8,16")
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.ks.split(",")]
    groups = args.groups.split(",")
    start = time.perf_counter()
    lm = load_model("smollm2-135m", device=args.device, dtype=args.dtype)
    machine = where(lm.device, lm.dtype)
    out = Path("bench/out")
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for group in groups:
        tasks = [get_task(n) for n in GROUPS[group]]
        results[group] = {}
        for k in ks:
            t = time.perf_counter()
            m = counterbalanced(lm, tasks, k, args.eval_size, batch_size=args.batch_size)
            results[group][k] = {"accuracy": m["accuracy"], "ece": m["ece"], "chance": m["chance"],
                                 "seconds": time.perf_counter() - t}
            print(group, k, json.dumps(results[group][k]), flush=True)
        (out / "smollm2_curve.json").write_text(json.dumps({"machine": machine, "results": results}, indent=1) + "\n")
    seconds = time.perf_counter() - start
    header = "| pack (chance) | " + " | ".join(f"k={k}" for k in ks) + " |"
    rule = "|---|" + "---|" * len(ks)
    rows = [f"| {g} ({results[g][ks[0]]['chance']:.2f}) | "
            + " | ".join(f"{results[g][k]['accuracy']:.3f} / {results[g][k]['ece']:.3f}" for k in ks) + " |"
            for g in groups]
    body = f"""`python -m bench.smollm2_curve --eval-size {args.eval_size} --ks {args.ks} --groups {args.groups}
--device {args.device} --dtype {args.dtype} --batch-size {args.batch_size}`
({time.strftime('%Y-%m-%d')}; {seconds / 60:.1f} min on {machine}). SmolLM2-135M-Instruct (converted
from the pinned wheel's Q4_1 GGUF). Each evaluation query gets its own k demonstrations drawn from
the pack's pool; `remapped` is the mean of wordnet-remapped-a and -b (the same texts with the labels
left/right swapped), so its 0-shot is exactly chance. Accuracy / ECE (equal-width, 15 bins),
{args.eval_size} queries per pack:

{header}
{rule}
""" + "\n".join(rows) + "\n"
    update_benchmarks_md("SmolLM2: k-shot ICL curve on the WordNet packs", body)


if __name__ == "__main__":
    main()
