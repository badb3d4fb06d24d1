"""Tokens per second of one forward pass, and of a forward+backward pass, per local model
on this machine's CPU: the figures behind the web form's cost estimate
(webapp/lab/services/estimate.py, MEASURED). Run: .venv/bin/python -m bench.throughput"""
import json
import platform
import sys
import time

import torch

from workers.engine.model_loading import load_model


def measure(name: str, batch: int = 8, length: int = 64, repeats: int = 3) -> dict:
    lm = load_model(name, device="cpu")
    vocab = lm.model.config.vocab_size
    ids = torch.randint(5, vocab, (batch, length))
    with torch.no_grad():
        lm.model(ids)  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeats):
            lm.model(ids)
        fwd = batch * length * repeats / (time.perf_counter() - t0)
    for p in lm.model.parameters():
        p.requires_grad_(True)
    t0 = time.perf_counter()
    for _ in range(repeats):
        lm.model(ids).logits.float().mean().backward()
    train = batch * length * repeats / (time.perf_counter() - t0)
    return {"model": name, "forward_tokens_per_s": round(fwd), "train_tokens_per_s": round(train),
            "batch": batch, "length": length, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine()}


def main(argv=None) -> None:
    """Print one JSON line per model (default: the local models); the figures are copied into
    webapp/lab/services/estimate.py's MEASURED by hand, with where they were measured."""
    for name in (sys.argv[1:] if argv is None else argv) or ["embedded", "smollm2-135m"]:
        print(json.dumps(measure(name)), flush=True)


if __name__ == "__main__":
    main()
