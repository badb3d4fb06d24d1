"""Each stage of the engine against a plain hand-written equivalent doing the same
arithmetic, on the random ~110M Llama of bench/reference_speed.py (CPU, fp32,
no download), task vehicle-tool-clothing, N=4, seed 0, measured in one run:

(a) ICL evaluation + activation capture of 200 prompts (`answer_pass`) vs a plain
    batched forward of the same prompts (tokenize, pad, forward, label log-probs);
(b) one SFT step (`StageTrainer.step`: the engine's loss over its batch, backward,
    Adam; LoRA) vs `model(input_ids, attention_mask, labels)` + backward + Adam on
    the same peft model and batch (and vs a lean plain step whose logits are only
    taken at the answer positions);
(c) one IA2 step vs a plain forward with hand-written hooks taking the same
    activations + MSE + backward + Adam;
(d) post-training evaluation of 200 queries (`fused_for_eval` + `evaluate_without_demos`)
    vs a plain batched forward of the LoRA-merged model;
(e) the dev-loss pass (`StageTrainer.dev_loss`, sft and ia2) vs a plain forward.

Engine and plain calls alternate in ABBA blocks (the next repetition starts with
plain); the figures are medians over BENCH_REPEATS (default 5) repetitions and their
ratio. Neither side switches the model's train/eval mode when it is already right.
Before timing, each pair's outputs are checked to agree, so both sides compute the
same thing.

    python -m bench.stage_overhead     (writes "Stage overhead over plain equivalents" in BENCHMARKS.md)

Environment: BENCH_REPEATS (5), BENCH_THREADS (2 torch threads).
"""
import copy
import dataclasses
import os
import platform
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.reference_speed import TASK, build_model, engine_config
from bench.webcommon import update_benchmarks_md

REPEATS = int(os.environ.get("BENCH_REPEATS", 5))
THREADS = int(os.environ.get("BENCH_THREADS", 2))
EVAL = 200
N = 4
SECTION = "Stage overhead over plain equivalents (random 110M Llama, CPU)"


# ---- plain equivalents: what one would write by hand with transformers ----

def plain_inputs(tok, texts: list[str]) -> dict:
    """Left-padded batch with position ids that follow the padding."""
    enc = tok(texts, padding=True, return_tensors="pt")
    pos = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "position_ids": pos}


@torch.no_grad()
def plain_label_scores(model, tok, texts: list[str], first_ids: list[int], batch: int = 32) -> torch.Tensor:
    """Batched forward, last position only, log-probs of each label's token."""
    out = []
    for i in range(0, len(texts), batch):
        logits = model(**plain_inputs(tok, texts[i:i + batch]), use_cache=False, logits_to_keep=1).logits
        out.append(torch.log_softmax(logits[:, -1].float(), dim=-1)[:, first_ids])
    return torch.cat(out)


def padded(rows: list[list[int]], pad: int, fill_labels: list[list[int]] | None = None):
    """(ids, mask, positions, labels) for left-padded rows; labels -100 where `fill_labels` is -100."""
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    labels = None if fill_labels is None else torch.tensor([[-100] * (width - len(r)) + r for r in fill_labels])
    return ids, mask, pos, labels


def sft_tensors(items, pad: int) -> dict:
    """model(labels=...) inputs: prompt + gold answer, loss on the answer tokens only."""
    rows = [it.prompt_ids + it.gold_ids for it in items]
    labels = [[-100] * len(it.prompt_ids) + it.gold_ids for it in items]
    ids, mask, pos, lab = padded(rows, pad, labels)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": pos, "labels": lab}


def lean_sft_tensors(items, pad: int) -> dict:
    """prompt + gold[:-1], logits only at the last `width` positions (single-length answers here)."""
    rows = [it.prompt_ids + it.gold_ids[:-1] for it in items]
    ids, mask, pos, _ = padded(rows, pad)
    width = max(len(it.gold_ids) for it in items)
    assert all(len(it.gold_ids) == width for it in items)
    return {"inputs": {"input_ids": ids, "attention_mask": mask, "position_ids": pos},
            "width": width, "targets": torch.tensor([it.gold_ids for it in items])}


def lean_sft_loss(model, t: dict) -> torch.Tensor:
    logits = model(**t["inputs"], use_cache=False, logits_to_keep=t["width"]).logits
    return F.cross_entropy(logits.float().flatten(0, 1), t["targets"].flatten())


def ia2_tensors(items, pad: int) -> dict:
    """prompt + ICL answer[:-1]; targets [B, layers, M, hidden] at the last M positions."""
    rows = [it.prompt_ids + it.icl_ids[:-1] for it in items]
    ids, mask, pos, _ = padded(rows, pad)
    width = max(len(it.icl_ids) for it in items)
    assert all(len(it.icl_ids) == width for it in items)
    return {"inputs": {"input_ids": ids, "attention_mask": mask, "position_ids": pos}, "width": width,
            "target": torch.stack([it.icl_acts.float() for it in items])}


def set_mode(model, training: bool) -> None:
    """model.train(training), skipped when already so (as StageTrainer.mode does)."""
    if model.training != training:
        model.train(training)


@contextmanager
def plain_hooks(model):
    """Forward hooks on every layer's self_attn that keep its output (a hand-written capture)."""
    layers = model.base_model.model.model.layers if hasattr(model, "base_model") else model.model.layers
    outs: list = []
    handles = [layer.self_attn.register_forward_hook(lambda _m, _i, o: outs.append(o[0])) for layer in layers]
    try:
        yield outs
    finally:
        for h in handles:
            h.remove()


def plain_ia2_loss(model, t: dict, outs: list) -> torch.Tensor:
    outs.clear()
    model(**t["inputs"], use_cache=False, logits_to_keep=1)
    student = torch.stack([o[:, -t["width"]:] for o in outs], dim=1).float()
    return (student - t["target"]).pow(2).mean(dim=(0, 2, 3)).sum()


# ---- timing ----

def interleaved(pairs: dict, rounds: dict, repeats: int) -> dict:
    """{name: (engine_fn, plain_fn)} -> {name: {"engine": [s...], "plain": [s...]}}: per repetition and
    side, the mean seconds of one call. A repetition runs each stage's calls in `rounds[name]` ABBA
    blocks (engine, plain, plain, engine; the next repetition starts with plain), so that load that
    rises or falls during a block weighs on both sides alike."""
    times = {name: {"engine": [], "plain": []} for name in pairs}
    for engine, plain in pairs.values():   # warm-up (Adam state, allocator)
        engine()
        plain()
    for rep in range(repeats):
        for name, (engine, plain) in pairs.items():
            block = ("engine", "plain", "plain", "engine") if rep % 2 == 0 else ("plain", "engine", "engine", "plain")
            spent = {"engine": 0.0, "plain": 0.0}
            for side in block * rounds.get(name, 1):
                fn = engine if side == "engine" else plain
                t = time.perf_counter()
                fn()
                spent[side] += time.perf_counter() - t
            calls = 2 * rounds.get(name, 1)
            for side in spent:
                times[name][side].append(spent[side] / calls)
        print(f"repetition {rep + 1}/{repeats}, load average {os.getloadavg()[0]:.1f}", flush=True)
    return times


def summarise(times: dict, per_call: dict) -> dict:
    out = {}
    for name, t in times.items():
        e, p = statistics.median(t["engine"]), statistics.median(t["plain"])
        ratios = [a / b for a, b in zip(t["engine"], t["plain"])]
        k = per_call.get(name, 1)
        out[name] = {"engine_ms": 1000 * e / k, "plain_ms": 1000 * p / k, "ratio": e / p,
                     "ratio_low": min(ratios), "ratio_high": max(ratios)}
    return out


# ---- the stages: (engine callable, plain callable) pairs, and their outputs compared ----

@dataclasses.dataclass
class Bench:
    """Everything the stages share: the loaded model, config, task, ICL work, queries."""

    lm: object
    cfg: object
    task: object
    work: object
    queries: list
    first_ids: list[int]

    @property
    def tok(self):
        return self.lm.tokenizer

    @property
    def pad(self) -> int:
        return self.lm.tokenizer.pad_token_id


def icl_pairs(b: Bench, base) -> tuple[dict, dict]:
    """(a): answer_pass on the ICL prompts (full, and with the shared prefix) vs a plain forward.
    `base` is the loaded model with a copy of the base weights (no adapter), as ICL work runs."""
    from workers.engine.answers import answer_pass
    from workers.engine.icl_work import ICL_ORDERINGS
    from workers.engine.sampling import demo_orders, draw_split
    from workers.engine.tasks import icl_prompt

    split = draw_split(b.task, N, 0, EVAL)
    orders = demo_orders(split.train, ICL_ORDERINGS, N, b.task.name, N, 0, "orderings")
    prompts = [icl_prompt(b.task, orders[i % ICL_ORDERINGS], b.task, q.input) for i, q in enumerate(b.queries)]
    groups = [i % ICL_ORDERINGS for i in range(len(prompts))]

    def engine(groups_=None):
        return answer_pass(base, prompts, b.task.labels, want_acts=True, top_k=1,
                           batch_size=b.cfg.eval_batch_size, groups=groups_)

    def plain():
        return plain_label_scores(base.model, b.tok, prompts, b.first_ids, b.cfg.eval_batch_size)

    checks = {"icl": (engine().label_logprobs - plain()).abs().max().item(),
              "icl shared prefix": (engine(groups).label_logprobs - plain()).abs().max().item()}
    return {"icl": (engine, plain), "icl shared prefix": (lambda: engine(groups), plain)}, checks


def step_pairs(b: Bench, peft, trainer) -> tuple[dict, dict]:
    """(b), (c): one StageTrainer.step vs a plain step, each with its own Adam on the same parameters."""
    params = [p for p in peft.parameters() if p.requires_grad]
    opt_e, opt_p = torch.optim.Adam(params, lr=1e-4), torch.optim.Adam(params, lr=1e-4)
    train = b.work.train_items
    micro = b.cfg.training.micro_batch_size or b.cfg.training.batch_size
    sft_t, lean_t, ia2_t = sft_tensors(train, b.pad), lean_sft_tensors(train, b.pad), ia2_tensors(train, b.pad)
    with torch.no_grad():   # the same loss on both sides (LoRA B starts at zero: weights still the base's)
        engine_sft = trainer.loss("sft", train).item()
        with trainer.capture:
            engine_ia2 = trainer.loss("ia2", train).item()
        with plain_hooks(peft) as outs:
            checks = {"sft loss": abs(engine_sft - peft(**sft_t).loss.item()),
                      "sft loss (lean)": abs(engine_sft - lean_sft_loss(peft, lean_t).item()),
                      "ia2 loss": abs(engine_ia2 - plain_ia2_loss(peft, ia2_t, outs).item())}

    def engine(stage):
        def run():
            trainer.mode(True)
            with trainer.hooks(stage):
                trainer.step(stage, train, opt_e, micro)
        return run

    def plain(loss_fn, hooks=False):
        def run():
            set_mode(peft, True)
            with plain_hooks(peft) if hooks else _null() as outs:
                opt_p.zero_grad(set_to_none=True)
                loss_fn(outs).backward()
                opt_p.step()
        return run

    return {"sft step": (engine("sft"), plain(lambda _o: peft(**sft_t).loss)),
            "sft step (lean plain)": (engine("sft"), plain(lambda _o: lean_sft_loss(peft, lean_t))),
            "ia2 step": (engine("ia2"), plain(lambda outs: plain_ia2_loss(peft, ia2_t, outs), hooks=True))}, checks


def eval_pair(b: Bench, peft) -> tuple[dict, dict]:
    """(d): fused_for_eval + evaluate_without_demos vs a plain forward of a merged copy."""
    from workers.engine.adapters import fused_for_eval
    from workers.engine.evaluation import evaluate_without_demos
    from workers.engine.progress import Reporter

    inputs, golds = [q.input for q in b.queries], [q.output for q in b.queries]
    bare = [b.task.query(x) for x in inputs]
    merged = copy.deepcopy(peft).merge_and_unload()
    merged.eval()

    def engine():
        peft.eval()
        with fused_for_eval(peft) as fused:
            return evaluate_without_demos(b.lm, fused, b.task, inputs, golds, b.cfg, Reporter())

    def plain():
        return plain_label_scores(merged, b.tok, bare, b.first_ids, b.cfg.eval_batch_size)

    labels = b.task.labels
    probs = torch.tensor([[p["label_probs"][lab] for lab in labels] for p in engine()["predictions"]])
    return {"eval": (engine, plain)}, {"eval": (probs - torch.softmax(plain().double(), -1).float()).abs().max().item()}


DEV_PASSES = 2   # dev-loss passes per call


def dev_pairs(b: Bench, peft, trainer) -> tuple[dict, dict]:
    """(e): StageTrainer.dev_loss (sft, ia2) vs plain no-grad forwards."""
    dev = b.work.dev_items
    dev_sft, dev_ia2 = sft_tensors(dev, b.pad), ia2_tensors(dev, b.pad)

    def engine(stage):
        def run():
            with trainer.hooks(stage):
                for _ in range(DEV_PASSES):
                    trainer.dev_loss(stage, dev)
        return run

    @torch.no_grad()
    def plain_sft():
        set_mode(peft, False)
        for _ in range(DEV_PASSES):
            float(peft(**dev_sft).loss)

    @torch.no_grad()
    def plain_ia2():
        set_mode(peft, False)
        with plain_hooks(peft) as outs:
            for _ in range(DEV_PASSES):
                float(plain_ia2_loss(peft, dev_ia2, outs))

    with torch.no_grad(), trainer.capture:
        e_sft, e_ia2 = trainer.dev_loss("sft", dev), trainer.dev_loss("ia2", dev)
    with torch.no_grad(), plain_hooks(peft) as outs:
        checks = {"dev sft loss": abs(e_sft - peft(**dev_sft).loss.item()),
                  "dev ia2 loss": abs(e_ia2 - plain_ia2_loss(peft, dev_ia2, outs).item())}
    return {"dev loss sft": (engine("sft"), plain_sft), "dev loss ia2": (engine("ia2"), plain_ia2)}, checks


def build_pairs(lm, cfg, work, task) -> tuple[dict, dict, dict]:
    """(pairs of engine/plain callables, units per call, agreement checks) for every stage."""
    from workers.engine.adapters import attach_adapter
    from workers.engine.progress import Reporter
    from workers.engine.sampling import eval_set
    from workers.engine.scoring import label_token_ids
    from workers.engine.training import StageTrainer

    b = Bench(lm, cfg, task, work, eval_set(task, EVAL), [ids[0] for ids in label_token_ids(lm.tokenizer, task.labels)])
    pairs, checks = icl_pairs(b, dataclasses.replace(lm, model=copy.deepcopy(lm.model)))
    peft = attach_adapter(lm.model, cfg.adapter, 0)   # injected into lm.model: the ICL pair has its own copy
    trainer = StageTrainer(peft, cfg.training, b.pad, lm.device, 0, Reporter(), dev_batch_size=cfg.eval_batch_size)
    steps, step_checks = step_pairs(b, peft, trainer)
    for _ in range(2):   # train a little first, so that the LoRA update (d) folds in is not zero
        steps["sft step"][0]()
    for more, more_checks in ((steps, step_checks), eval_pair(b, peft), dev_pairs(b, peft, trainer)):
        pairs.update(more)
        checks.update(more_checks)
    return pairs, {"dev loss sft": DEV_PASSES, "dev loss ia2": DEV_PASSES}, checks


# ABBA blocks per repetition: the short stages get several, so that each repetition averages many calls
ROUNDS = {"sft step": 3, "sft step (lean plain)": 3, "ia2 step": 3, "dev loss sft": 3, "dev loss ia2": 3}


@contextmanager
def _null():
    yield None


ROWS = [
    ("icl", "(a) ICL evaluation + activation capture, 200 prompts, full prompts",
     "plain batched forward of the prompts"),
    ("icl shared prefix", "(a') the same with the shared-prefix cache (what `icl_work` runs)",
     "plain batched forward of the prompts"),
    ("sft step", "(b) one SFT step (4 examples)", "`model(input_ids, attention_mask, labels)` + backward + Adam"),
    ("sft step (lean plain)", "(b') one SFT step (4 examples)", "plain step, logits at the answer positions only"),
    ("ia2 step", "(c) one IA2 step (4 examples)", "forward with hooks + MSE + backward + Adam"),
    ("eval", "(d) post-training evaluation, 200 queries (LoRA folded in)", "plain batched forward of the merged model"),
    ("dev loss sft", "(e) dev-loss pass, SFT loss (2 dev examples)", "plain forward with labels"),
    ("dev loss ia2", "(e) dev-loss pass, IA2 loss (2 dev examples)", "plain forward with hooks + MSE"),
]


def report(params: int, summary: dict, checks: dict, load: tuple, wall: float) -> str:
    rows = "\n".join(f"| {title} | {plain} | {summary[k]['engine_ms']:.1f} | {summary[k]['plain_ms']:.1f} | "
                     f"**{summary[k]['ratio']:.2f}x** | {summary[k]['ratio_low']:.2f}-{summary[k]['ratio_high']:.2f} |"
                     for k, title, plain in ROWS)
    worst = max(abs(v) for v in checks.values())
    when = f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {torch.get_num_threads()} torch threads, CPU, fp32"
    return f"""`python -m bench.stage_overhead` ({when};
2 CPU cores shared with other work, load average {load[0]:.1f} at the start and {load[1]:.1f} at the end; {wall / 60:.1f} min).
Model: the random {params / 1e6:.0f}M Llama of `bench/reference_speed.py`, task `{TASK}`, N={N}, seed 0,
LoRA r=8 on q, k, o. Each stage runs the engine's own code against a plain hand-written equivalent on the same
model and data, in alternating blocks (engine, plain, plain, engine; the next repetition starts with plain),
{REPEATS} repetitions; a repetition averages 2 calls per side (6 for the steps and dev-loss passes); medians
over the repetitions, and the range of the repetitions' own ratios.
Before timing, the outputs of each pair were checked to agree (largest difference {worst:.1e}).
Engine time includes its own tokenization, padding and bookkeeping; the plain training and dev-loss
tensors are built once beforehand (the plain ICL and evaluation passes tokenize, as the engine does).

| stage (engine) | plain equivalent | engine ms | plain ms | engine / plain | range over repetitions |
|---|---|---|---|---|---|
{rows}

Target: every stage within 1.1x of its plain equivalent. Step and dev-loss figures are per step / per pass
(a call is 1 step or 2 passes). Single timings on this shared machine vary severalfold with other users' load;
the ratio compares runs made side by side.
"""


def main() -> None:
    from workers.engine.config import load_config
    from workers.engine.icl_work import get_icl_work
    from workers.engine.progress import Reporter
    from workers.engine.runner import get_model, resolve_tasks

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    load0, start = os.getloadavg()[0], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, params = build_model(Path(tmp))
        cfg = load_config({**engine_config(model_dir), "n": N})
        lm = get_model(cfg)
        task, evals = resolve_tasks(cfg)
        work, _ = get_icl_work(lm, cfg, task, evals, N, 0, Reporter())
        pairs, per_call, checks = build_pairs(lm, cfg, work, task)
        print("agreement", checks, flush=True)
        bad = {k: v for k, v in checks.items() if not v < 1e-3}
        if bad:
            raise SystemExit(f"engine and plain disagree: {bad}")
        summary = summarise(interleaved(pairs, ROUNDS, REPEATS), per_call)
    for k, v in summary.items():
        print(f"{k:24s} engine {v['engine_ms']:9.1f} ms  plain {v['plain_ms']:9.1f} ms  "
              f"ratio {v['ratio']:.3f} ({v['ratio_low']:.2f}-{v['ratio_high']:.2f})", flush=True)
    body = report(params, summary, checks, (load0, os.getloadavg()[0]), time.perf_counter() - start)
    print(body)
    if os.environ.get("BENCH_WRITE", "1") == "1":
        update_benchmarks_md(SECTION, body)


if __name__ == "__main__":
    main()
