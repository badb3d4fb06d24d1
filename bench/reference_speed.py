"""The engine against the reference code's loops (bench/reference_loops.py) on a
randomly initialised ~110M-parameter Llama built here (hidden 768, 12 layers,
12 heads, MLP 2048, vocabulary 32k, tied embeddings; the embedded world's
tokenizer), CPU, fp32, measured in one run:

(a) the standard comparison (icl, sft, ia2, ia2-sft; N=4; 1 seed; 200 evaluation
    queries; similarity on 50), engine vs. reference, same task, same learning-rate
    grid and the same number of epochs on both sides (patience = epochs, so neither
    side stops early and both do the same number of optimizer steps);
(b) ICL evaluation at N=8 (200 queries: label scores and activations) with the
    shared-prefix cache against a plain batched forward of the full prompts.

    python -m bench.reference_speed [a] [b]   (default both; each writes its section of BENCHMARKS.md)

Environment: BENCH_EPOCHS (default 10; the paper allows 50 with early stopping),
BENCH_EVAL (200), BENCH_REPEATS (1; interleaved engine/reference pairs).
"""
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.webcommon import update_benchmarks_md

TASK = "vehicle-tool-clothing"
LRS = [1e-4, 3e-4, 1e-3]
EPOCHS = int(os.environ.get("BENCH_EPOCHS", 10))
EVAL = int(os.environ.get("BENCH_EVAL", 200))
REPEATS = int(os.environ.get("BENCH_REPEATS", 1))
SIM = min(50, EVAL)


def build_model(folder: Path) -> tuple[Path, int]:
    from transformers import AutoModelForCausalLM, LlamaConfig

    from workers.engine.embedded.tokenizer import build_tokenizer

    tok = build_tokenizer()
    cfg = LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                      num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=2048,
                      tie_word_embeddings=True, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    path = folder / "random-llama-110m"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path, sum(p.numel() for p in model.parameters())


def engine_config(model_dir: Path) -> dict:
    return {"model": str(model_dir), "task": TASK, "methods": ["icl", "sft", "ia2", "ia2-sft"], "n": 4, "seeds": [0],
            "eval_size": EVAL, "similarity_size": SIM, "device": "cpu", "dtype": "fp32",
            "training": {"lr": LRS, "max_epochs": EPOCHS, "patience": EPOCHS}}


def run_engine(cfg: dict) -> tuple[float, dict]:
    from workers.engine import icl_work, stage_cache
    from workers.engine.runner import run_compare

    icl_work.clear_memory_cache()
    stage_cache.clear_memory_cache()
    t = time.perf_counter()
    out = run_compare(cfg)
    wall = time.perf_counter() - t
    acc = {r["method"]: r["accuracy"] for r in out["runs"]}
    return wall, acc


def run_reference(lm) -> tuple[float, list]:
    from bench.reference_loops import Setup, reference_comparison
    from workers.engine.tasks import get_task

    setup = Setup(lm, get_task(TASK), 4, 0, EVAL, SIM, LRS, EPOCHS, EPOCHS)
    t = time.perf_counter()
    runs = reference_comparison(setup)
    return time.perf_counter() - t, runs


def icl_prefix_benchmark(lm, repeats: int = 3) -> dict:
    """(b): N=8, 200 queries in 4 orderings; scores + activations, batch 32."""
    from workers.engine.answers import answer_pass
    from workers.engine.icl_work import ICL_ORDERINGS
    from workers.engine.sampling import demo_orders, draw_split, eval_set
    from workers.engine.sequences import build_batch, encode_prompts
    from workers.engine.tasks import get_task, icl_prompt

    task = get_task(TASK)
    split = draw_split(task, 8, 0, 200)
    orders = demo_orders(split.train, ICL_ORDERINGS, 8, task.name, 8, 0, "orderings")
    queries = eval_set(task, 200)
    prompts = [icl_prompt(task, orders[i % ICL_ORDERINGS], task, q.input) for i, q in enumerate(queries)]
    groups = [i % ICL_ORDERINGS for i in range(len(prompts))]
    ids = encode_prompts(lm.tokenizer, prompts)
    pad = lm.tokenizer.pad_token_id
    batches = [build_batch(ids[i:i + 32], [[pad]] * len(ids[i:i + 32]), pad) for i in range(0, len(ids), 32)]

    @torch.no_grad()
    def plain():
        for b in batches:
            lm.model(**b.model_inputs(), logits_to_keep=1)

    def shared():
        answer_pass(lm, prompts, task.labels, want_acts=True, top_k=1, batch_size=32, groups=groups)

    def full():
        answer_pass(lm, prompts, task.labels, want_acts=True, top_k=1, batch_size=32)

    times = {"plain": [], "shared": [], "full": []}
    shared()
    for _ in range(repeats):   # interleaved
        for name, fn in (("plain", plain), ("shared", shared), ("full", full)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"plain_seconds": med["plain"], "shared_seconds": med["shared"], "full_seconds": med["full"],
            "shared_over_plain": med["shared"] / med["plain"], "full_over_plain": med["full"] / med["plain"],
            "prompt_tokens": statistics.fmean(len(r) for r in ids)}


def report_a(params, pairs, load) -> str:
    eng = statistics.median(p[0] for p in pairs)
    ref = statistics.median(p[1] for p in pairs)
    e_acc, r_runs = pairs[-1][2], pairs[-1][3]
    ref_t = {r["method"]: r["timings"] for r in r_runs}
    rows = "\n".join(f"| {m} | {e_acc.get(m, float('nan')):.3f} | "
                     f"{(r.get('accuracy', r['icl_accuracy'])):.3f} | "
                     f"{sum(ref_t[m].values()):.1f} |" for m, r in ((r["method"], r) for r in r_runs))
    return f"""`python -m bench.reference_speed a` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, {torch.get_num_threads()} torch threads, CPU, fp32;
2 CPU cores shared with other work, load average {load[0]:.1f} at the start and {load[1]:.1f} at the end).
Model: a randomly initialised Llama built in the benchmark, {params / 1e6:.0f}M parameters (hidden 768, 12 layers,
12 heads, MLP 2048, vocabulary 32,000, tied embeddings), the embedded world's tokenizer, task `{TASK}`.

**(a) Standard comparison** (icl, sft, ia2, ia2-sft; N=4; 1 seed; {EVAL} evaluation queries; similarity on {SIM};
learning rates {LRS}), engine (`run_compare`) against `bench/reference_loops.py` (the reference code's loops:
batch-1 training with accumulation to 4, per-example dev loss after every step, per-example ICL activation
collection without a KV cache, re-collected for every learning rate, every adapter evaluated, each method its
own run). **Reduced identically on both sides:** {EPOCHS} epochs per learning rate with patience {EPOCHS} (no early
stop; the paper allows up to 50 with patience 5), so both do the same optimizer steps. Model loading is excluded
on both sides. {len(pairs)} interleaved pair(s), medians:

| | wall seconds |
|---|---|
| reference loops | {ref:.1f} |
| engine | {eng:.1f} |
| **reference / engine** | **{ref / eng:.2f}x** (target >= 3x) |

| method | engine accuracy | reference accuracy | reference seconds for the method's run |
|---|---|---|---|
{rows}

(Accuracies differ because the reference picks the learning rate on the evaluation set and the engine on the dev
split, and a random model's accuracy is near chance; the figure here is speed.)

"""


def report_b(params, prefix, load) -> str:
    return f"""`python -m bench.reference_speed b` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, {torch.get_num_threads()} torch threads, CPU, fp32;
2 CPU cores shared with other work, load average {load[0]:.1f} at the start and {load[1]:.1f} at the end).
Model: the random {params / 1e6:.0f}M Llama of (a), task `{TASK}`.

**(b) ICL evaluation with the shared-prefix cache**, N=8, 200 queries in 4 demonstration orderings (label scores
and the attention outputs at the answer position, batches of 32; mean prompt {prefix['prompt_tokens']:.0f} tokens),
medians of 3 interleaved runs:

| | seconds | / plain batched forward of the full prompts |
|---|---|---|
| plain batched forward of the full prompts (no scoring, no capture) | {prefix['plain_seconds']:.2f} | 1 |
| engine, full prompts (`answer_pass` without groups) | {prefix['full_seconds']:.2f} | {prefix['full_over_plain']:.2f}x |
| **engine, shared prefix** (`answer_pass` with the orderings) | {prefix['shared_seconds']:.2f} | **{prefix['shared_over_plain']:.2f}x** (target < 0.5x) |

Single timings on this shared 2-core machine vary severalfold with other users' load (the load averages above);
the three variants are interleaved so that a ratio compares runs made under the same conditions.
"""



SECTION_A = "Engine vs. the reference code's loops (random 110M Llama, CPU)"
SECTION_B = "Shared-prefix ICL evaluation (random 110M Llama, CPU)"


def main() -> None:
    import sys

    from workers.engine.config import load_config
    from workers.engine.runner import get_model

    parts = sys.argv[1:] or ["a", "b"]
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, params = build_model(Path(tmp))
        cfg = engine_config(model_dir)
        lm = get_model(load_config(cfg))   # loaded once; shared by both sides
        if "b" in parts:
            prefix = icl_prefix_benchmark(lm)
            print("prefix", prefix, flush=True)
            body = report_b(params, prefix, (load0, os.getloadavg()[0]))
            print(body)
            update_benchmarks_md(SECTION_B, body)
        if "a" in parts:
            load0 = os.getloadavg()[0]
            pairs = []
            for _ in range(REPEATS):
                e_wall, e_acc = run_engine(cfg)
                print("engine", e_wall, e_acc, flush=True)
                r_wall, r_runs = run_reference(lm)
                print("reference", r_wall, r_runs, flush=True)
                pairs.append((e_wall, r_wall, e_acc, r_runs))
            body = report_a(params, pairs, (load0, os.getloadavg()[0]))
            print(body)
            update_benchmarks_md(SECTION_A, body)


if __name__ == "__main__":
    main()
