"""Engine speed and memory on the embedded model (CPU), measured in one run:

- wall time of the standard comparison (icl, sft, ia2, ia2-sft; N=4; 3 seeds;
  200 evaluation queries; similarity on 50), in a fresh process and cache;
- activation capture overhead over a plain batched forward of the same prompts;
- an IA2 training step against an SFT step on the same batch;
- batched ICL evaluation against a per-example loop;
- KV-cache generation against re-running the whole sequence per token;
- bytes of cached activations per example.

    python -m bench.engine_speed        (writes the "Engine speed" section of BENCHMARKS.md)
"""
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.webcommon import update_benchmarks_md

STANDARD = {"model": "embedded", "task": "vehicle-tool-clothing", "methods": ["icl", "sft", "ia2", "ia2-sft"], "n": 4,
            "seeds": 3, "eval_size": 200, "similarity_size": 50}


def timed(fn, repeats: int) -> float:
    """Median seconds of fn() over repeats (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def standard_comparison(config: dict = STANDARD) -> dict:
    """`python -m workers.engine compare` on `config` in a fresh process and a fresh cache:
    wall seconds (model loading included), the engine's own seconds and the aggregate."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "standard.json"
        cfg.write_text(json.dumps(config))
        out = Path(tmp) / "results.json"
        t = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "workers.engine", "compare", str(cfg), "--out", str(out),
                               "--cache-dir", str(Path(tmp) / "cache")], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"the engine's compare failed ({done.returncode}):\n{done.stderr[-4000:]}")
        wall = time.perf_counter() - t
        results = json.loads(out.read_text())
    return {"wall_seconds": wall, "engine_seconds": results["wall_seconds"], "aggregate": results["aggregate"]}


def micro_benchmarks() -> dict:
    from workers.engine.capture import ActivationCapture
    from workers.engine.generation import greedy_generate
    from workers.engine.icl_work import get_icl_work
    from workers.engine.adapters import attach_adapter, detach_adapter
    from workers.engine.config import load_config
    from workers.engine.losses import ce_loss, ia2_loss
    from workers.engine.model_loading import load_model
    from workers.engine.progress import Reporter
    from workers.engine.runner import resolve_tasks
    from workers.engine.scoring import score_label_set
    from workers.engine.sequences import build_batch, encode_prompts
    from workers.engine.tasks import icl_prompt
    from workers.engine.sampling import eval_set, draw_split

    lm = load_model("embedded")
    cfg = load_config({**STANDARD, "n": 8, "seeds": 1})
    task, evals = resolve_tasks(cfg)
    split = draw_split(task, 8, 0, 200)
    queries = eval_set(task, 200)
    prompts = [icl_prompt(task, split.train, task, q.input) for q in queries]
    ids = encode_prompts(lm.tokenizer, prompts)
    pad = lm.tokenizer.pad_token_id
    batches = [build_batch(ids[i:i + 32], [[pad]] * len(ids[i:i + 32]), pad) for i in range(0, len(ids), 32)]
    out = {}

    @torch.no_grad()
    def plain():
        for b in batches:
            lm.model(**b.model_inputs(), logits_to_keep=1)

    cap = ActivationCapture(lm.model)

    @torch.no_grad()
    def captured():
        with cap:
            for b in batches:
                cap.positions = b.answer_positions
                lm.model(**b.model_inputs(), logits_to_keep=1)
                cap.take()

    reps = 15
    plain_t, cap_t = [], []
    for _ in range(reps):  # interleaved so that machine noise hits both alike
        plain_t.append(timed(plain, 1))
        cap_t.append(timed(captured, 1))
    out["forward_seconds"] = statistics.median(plain_t)
    out["capture_seconds"] = statistics.median(cap_t)
    out["capture_ratio"] = out["capture_seconds"] / out["forward_seconds"]

    # batched ICL evaluation vs a per-example loop
    out["eval_batched_seconds"] = timed(lambda: score_label_set(lm.model, lm.tokenizer, prompts, task.labels,
                                                                "cpu", 32), 3)
    out["eval_loop_seconds"] = timed(lambda: [score_label_set(lm.model, lm.tokenizer, [p], task.labels, "cpu", 1)
                                              for p in prompts], 1)
    out["batching_speedup"] = out["eval_loop_seconds"] / out["eval_batched_seconds"]

    # IA2 step vs SFT step on the same batch
    work, _ = get_icl_work(lm, cfg, task, evals, 8, 0, Reporter())
    items = work.train_items[:4]
    peft_model = attach_adapter(lm.model, cfg.adapter, 0)
    cap2 = ActivationCapture(peft_model, detach=False)
    opt = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=1e-4)

    def step(loss_fn):
        def run():
            opt.zero_grad()
            loss_fn().backward()
            opt.step()
        return run

    with cap2:
        ia2_t, sft_t = [], []
        for _ in range(30):
            sft_t.append(timed(step(lambda: ce_loss(peft_model, items, pad, "cpu")), 3))
            ia2_t.append(timed(step(lambda: ia2_loss(peft_model, items, pad, "cpu", cap2)), 3))
    lm.model = detach_adapter(peft_model)
    out["sft_step_seconds"] = statistics.median(sft_t)
    out["ia2_step_seconds"] = statistics.median(ia2_t)
    out["ia2_step_ratio"] = out["ia2_step_seconds"] / out["sft_step_seconds"]

    # KV-cache generation vs full re-runs
    gen_prompts = prompts[:16]

    @torch.no_grad()
    def rerun():
        for p in gen_prompts:
            seq = lm.tokenizer(p)["input_ids"]
            for _ in range(16):
                seq.append(int(lm.model(input_ids=torch.tensor([seq])).logits[0, -1].argmax()))

    out["generate_cache_seconds"] = timed(lambda: [greedy_generate(lm.model, lm.tokenizer, [p], "cpu", 16)
                                                   for p in gen_prompts], 3)
    out["generate_rerun_seconds"] = timed(rerun, 1)
    out["kv_cache_speedup"] = out["generate_rerun_seconds"] / out["generate_cache_seconds"]
    out["activation_bytes_per_example"] = work.bytes_per_example
    cfg_m = lm.model.config
    out["activation_shape"] = [cfg_m.num_hidden_layers, 1, cfg_m.hidden_size, 4]
    return out


def report(std: dict, micro: dict) -> str:
    rows = "\n".join(f"| {a['method']} | {a['accuracy']['mean']:.3f} ± {a['accuracy']['std']:.3f} | "
                     f"{a['ece']['mean']:.3f} | "
                     + (f"{a['mean_similarity']['mean']:.3f} |" if 'mean_similarity' in a else "- |")
                     for a in std["aggregate"])
    layers, tokens, hidden, nbytes = micro["activation_shape"]
    return f"""`python -m bench.engine_speed` ({time.strftime('%Y-%m-%d')}, {platform.machine()}, {torch.get_num_threads()} torch threads, CPU, fp32).

**Standard comparison** (icl, sft, ia2, ia2-sft; N=4; 3 seeds; 200 evaluation queries; similarity on 50;
`vehicle-tool-clothing`, embedded model; fresh process and cache): **{std['wall_seconds']:.1f} s wall**
(target < 60 s; {std['engine_seconds']:.1f} s inside the runner, the rest is Python and model start-up).

| method | accuracy (mean ± std over seeds) | ECE | mean similarity to ICL |
|---|---|---|---|
{rows}

| measure | figure | target |
|---|---|---|
| activation capture / plain batched forward (200 ICL prompts, batch 32) | {micro['capture_ratio']:.3f}x ({micro['capture_seconds']*1000:.1f} ms vs {micro['forward_seconds']*1000:.1f} ms) | <= 1.10x |
| IA2 step / SFT step (same 4 examples, forward + backward + Adam) | {micro['ia2_step_ratio']:.3f}x ({micro['ia2_step_seconds']*1000:.2f} ms vs {micro['sft_step_seconds']*1000:.2f} ms) | <= 1.15x |
| per-example loop / batched ICL evaluation (200 prompts) | {micro['batching_speedup']:.1f}x faster batched ({micro['eval_batched_seconds']*1000:.0f} ms vs {micro['eval_loop_seconds']*1000:.0f} ms) | batched |
| full re-run / KV-cache greedy decoding (16 prompts x 16 tokens) | {micro['kv_cache_speedup']:.1f}x faster with the cache | one pass per token |

**Memory.** Cached activations per example = layers x answer tokens x hidden x bytes =
{layers} x {tokens} x {hidden} x {nbytes} = {micro['activation_bytes_per_example']:.0f} bytes for the embedded model
(single-token labels). For Qwen3-4B-Base in bf16 that is 36 x m x 2560 x 2 = 184 KB per answer token.
Targets are stored on the CPU (and on disk in the ICL-work cache) and moved to the device one
training batch at a time.
"""


def main() -> None:
    std = standard_comparison()
    micro = micro_benchmarks()
    print(json.dumps({"standard": {k: v for k, v in std.items() if k != "aggregate"}, "micro": micro}, indent=1))
    update_benchmarks_md("Engine speed (embedded model, CPU)", report(std, micro))


if __name__ == "__main__":
    main()
