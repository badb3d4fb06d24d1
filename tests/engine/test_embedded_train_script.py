"""The embedded model's training script runs end to end on a much smaller
model and produces a directory that loads with AutoModelForCausalLM/AutoTokenizer
and works in the engine."""
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from workers.engine.embedded.train import parse_args, train
from workers.engine.scoring import score_label_set


def test_tiny_retrain_produces_a_loadable_hf_model(tmp_path):
    out = tmp_path / "tiny"
    log = train(parse_args(["--out", str(out), "--hidden", "32", "--layers", "2", "--heads", "2", "--mlp", "64",
                            "--steps", "12", "--batch", "4", "--demos", "6", "--eval-every", "0", "--warmup", "2"]))
    assert log["losses"][0]["loss"] > 0 and log["n_parameters"] < 100_000
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    lp = score_label_set(model, tok, ["Text:a cat\nLabel:"], ["yes", "no"], "cpu")
    # log-probabilities of two different continuations: each finite and negative, and together
    # at most probability 1 (logits or unnormalised scores would break this)
    assert lp.shape == (1, 2) and bool(torch.isfinite(lp).all()) and bool((lp < 0).all())
    assert float(torch.logsumexp(lp[0], dim=0)) <= 1e-6


def test_same_seed_gives_the_same_weights(tmp_path):
    args = ["--hidden", "16", "--layers", "1", "--heads", "2", "--mlp", "32", "--steps", "3", "--batch", "2",
            "--demos", "3", "--eval-every", "0", "--warmup", "1"]
    a = train(parse_args(args + ["--out", str(tmp_path / "a")]))
    b = train(parse_args(args + ["--out", str(tmp_path / "b")]))
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    assert a["losses"] == b["losses"]
