"""Trains the embedded default model from scratch and saves it in Hugging Face format.

    python -m workers.engine.embedded.train [--steps N] [--out DIR] [--seed S]

The defaults reproduce the shipped weights in workers/engine/embedded/model/.
Batches mix ICL sequences (many small tasks with random label words, loss on the
answers) with repeated random word sequences (loss on the repeat), which teach the
model to find an earlier occurrence of a word and copy what followed it: the
mechanism in-context learning here builds on. Training prints held-out k-shot
accuracy as it goes and writes training_log.json next to the weights.
A tiny run (`--hidden 32 --layers 2 --steps 20`) takes seconds.
"""
import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from .corpus import sample_repeat_sequence, sample_sequence
from .world import LABEL_WORDS, CATEGORIES, SUPER_CATEGORIES
from .heldout import heldout_curve
from .tokenizer import build_tokenizer

DEFAULT_OUT = Path(__file__).parent / "model"
ANSWER_PREFIX_WORDS = ("Label", "Output", "Class", "Category")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--demos", type=int, default=12, help="demonstrations per training sequence")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--mlp", type=int, default=384)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--natural", type=float, default=0.25, help="share of sequences labelled with category names")
    p.add_argument("--subset", type=float, default=0.7,
                   help="share of sequences drawing keywords from 3-6 words per category (exact repeats)")
    p.add_argument("--repeat", type=float, default=0.3,
                   help="share of rows that are a random word sequence repeated (trains copying from context)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", type=Path, default=None, help="continue from the weights in this directory")
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    return p.parse_args(argv)


def label_mask(ids: torch.Tensor, tok) -> torch.Tensor:
    """True at positions holding an answer token (label words and category names
    never occur inside inputs)."""
    answer_ids = torch.tensor(tok.convert_tokens_to_ids(LABEL_WORDS + list(CATEGORIES) + list(SUPER_CATEGORIES)))
    return torch.isin(ids, answer_ids)


def make_batch(rng: np.random.Generator, tok, args):
    """(input ids, attention mask, targets) for one batch; targets are -100 except at answers."""
    share = args.natural
    texts, repeat_halves = [], []
    for _ in range(args.batch):
        if rng.random() < args.repeat:
            text, half = sample_repeat_sequence(rng, int(rng.integers(8, 25)))
            texts.append(text)
            repeat_halves.append(half)
        else:
            texts.append(sample_sequence(rng, args.demos, share, args.subset)[0])
            repeat_halves.append(0)
    enc = tok(texts, padding=True, return_tensors="pt", padding_side="right")
    ids, attn = enc["input_ids"], enc["attention_mask"]
    mask = label_mask(ids, tok) & attn.bool()
    for row, half in enumerate(repeat_halves):
        if half:  # [BOS] w1..wH w1..wH: the loss is on the copied half (after its first word)
            mask[row] = False
            mask[row, half + 2: 2 * half + 1] = True
    targets = torch.where(mask, ids, torch.full_like(ids, -100))
    return ids, attn, targets


def build_model(tok, args):
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=args.hidden, intermediate_size=args.mlp,
        num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.heads, max_position_embeddings=1024,
        tie_word_embeddings=True, rms_norm_eps=1e-5, rope_theta=10000.0,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaForCausalLM(config)


def lr_at(step: int, args) -> float:
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    frac = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def train(args) -> dict:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    tok = build_tokenizer()
    model = build_model(tok, args)
    if args.init is not None:
        model = type(model).from_pretrained(args.init)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    log = {"args": {k: str(v) for k, v in vars(args).items()}, "evals": [], "losses": []}
    start = time.time()
    running = None
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        ids, attn, targets = make_batch(rng, tok, args)
        out = model(input_ids=ids, attention_mask=attn, labels=targets)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = out.loss.item() if running is None else 0.98 * running + 0.02 * out.loss.item()
        if step % 50 == 0:
            log["losses"].append({"step": step, "loss": running})
            print(f"step {step} loss {running:.4f} {time.time() - start:.0f}s", flush=True)
        if args.eval_every and ((step + 1) % args.eval_every == 0 or step + 1 == args.steps):
            model.eval()
            curve = heldout_curve(model, tok, n_tasks=12, n_queries=32, ks=(0, 2, 8, 16), seed=1)
            model.train()
            log["evals"].append({"step": step + 1, "seconds": time.time() - start, "curve": curve})
            print(f"eval step {step + 1}: " + " ".join(f"k={k}:{v['accuracy']:.3f}" for k, v in curve.items()), flush=True)
            save(model, tok, log, args, start)
    save(model, tok, log, args, start)
    return log


def save(model, tok, log: dict, args, start: float) -> None:
    """Write weights, tokenizer and the training log (also at every evaluation)."""
    log["train_seconds"] = time.time() - start
    log["n_parameters"] = sum(p.numel() for p in model.parameters())
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tok.save_pretrained(args.out)
    (args.out / "training_log.json").write_text(json.dumps(log, indent=1))


if __name__ == "__main__":
    train(parse_args())
