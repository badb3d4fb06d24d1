"""Tiny randomly initialised causal LMs of each supported family, built in the
test (no downloads), saved as ordinary Hugging Face model directories together
with the embedded world's tokenizer."""
from pathlib import Path

import torch
from transformers import GPT2Config, LlamaConfig, Qwen2Config, Qwen3Config, AutoModelForCausalLM

from workers.engine.embedded.tokenizer import build_tokenizer

FAMILIES = ("llama", "qwen2", "qwen3", "gpt2")


def tiny_config(family: str, vocab: int, pad: int):
    common = dict(vocab_size=vocab, pad_token_id=pad)
    if family == "gpt2":
        return GPT2Config(n_embd=32, n_layer=3, n_head=4, n_positions=256, **common)
    kw = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=256, **common)
    if family == "llama":
        return LlamaConfig(**kw)
    if family == "qwen2":
        return Qwen2Config(**kw)
    return Qwen3Config(head_dim=8, **kw)


def save_tiny_model(family: str, folder: Path, seed: int = 0) -> Path:
    tok = build_tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(family, len(tok), tok.pad_token_id))
    path = folder / f"tiny-{family}"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
