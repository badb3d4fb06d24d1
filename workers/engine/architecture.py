"""Finds each decoder layer's self-attention module from a model's structure.

Works for Llama-, Qwen2/Qwen3-, Mistral- and GPT-2-style models (and their peft
wrappers): the decoder layers are the ModuleList with one entry per hidden layer,
and each layer's attention child is `self_attn` (Llama family) or `attn` (GPT-2).
The attention module's first output is the attention block's result after the
output projection and before the residual add.
"""
import torch.nn as nn

ATTENTION_NAMES = ("self_attn", "attn", "self_attention", "attention")


def _n_layers(model) -> int | None:
    config = getattr(model, "config", None)
    for attr in ("num_hidden_layers", "n_layer", "num_layers"):
        value = getattr(config, attr, None)
        if isinstance(value, int):
            return value
    return None


def decoder_layers(model) -> nn.ModuleList:
    """The ModuleList of decoder blocks."""
    want = _n_layers(model)
    candidates = [m for _, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) > 0
                  and all(_attention_child(layer) is not None for layer in m)]
    if want is not None:
        exact = [m for m in candidates if len(m) == want]
        candidates = exact or candidates
    if not candidates:
        raise ValueError(f"could not find the decoder layers of {type(model).__name__}: no ModuleList "
                         f"whose blocks have a child named one of {ATTENTION_NAMES}")
    return candidates[0]


def _attention_child(layer: nn.Module) -> nn.Module | None:
    for name in ATTENTION_NAMES:
        child = getattr(layer, name, None)
        if isinstance(child, nn.Module):
            return child
    return None


def attention_modules(model) -> list[nn.Module]:
    """One self-attention module per decoder layer, in order."""
    return [_attention_child(layer) for layer in decoder_layers(model)]
