"""Adapters through peft: LoRA (default r=8, alpha=8 on q, k, o) and (IA)^3.

The adapter is injected into the loaded base model for one run and removed
afterwards, so the same base weights serve every method in a process.
"""
from contextlib import contextmanager

import torch

from .errors import ConfigError
from .training_settings import AdapterSettings

def linear_module_names(model) -> list[str]:
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Conv1D":
            names.add(name.split(".")[-1])
    return sorted(names)


def attach_adapter(model, settings: AdapterSettings, seed: int):
    """Wrap `model` with a fresh adapter (weights initialised from `seed`)."""
    from peft import IA3Config, LoraConfig, get_peft_model

    available = linear_module_names(model)
    missing = [m for m in settings.target_modules if m not in available]
    if missing:
        raise ConfigError("adapter.target_modules", f"{missing} are not modules of this model; its linear layers "
                                                     f"are {available}")
    torch.manual_seed(seed)
    if settings.type == "lora":
        cfg = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                         target_modules=list(settings.target_modules), bias="none", task_type="CAUSAL_LM")
    else:
        kwargs = {}
        if settings.target_modules:
            kwargs["target_modules"] = list(settings.target_modules)
            kwargs["feedforward_modules"] = list(settings.feedforward_modules)
        cfg = IA3Config(task_type="CAUSAL_LM", **kwargs)
    peft_model = get_peft_model(model, cfg)
    return peft_model


def detach_adapter(peft_model):
    """Remove the adapter layers and return the untouched base model."""
    base = peft_model.unload()
    for p in base.parameters():
        p.requires_grad_(False)
    return base


def trainable_state(peft_model) -> dict[str, torch.Tensor]:
    """A CPU copy of the adapter's trainable weights."""
    return {n: p.detach().to("cpu", copy=True) for n, p in peft_model.named_parameters() if p.requires_grad}


def load_saved_adapter(path) -> dict[str, torch.Tensor]:
    """The weights of an adapter as saved on disk: a folder written by peft's
    `save_pretrained` (its adapter_model.safetensors) or the .safetensors file itself.
    Raises FileNotFoundError naming the path when there are no weights there."""
    from pathlib import Path

    from safetensors.torch import load_file

    path = Path(path)
    weights = path / "adapter_model.safetensors" if path.is_dir() else path
    if not weights.is_file():
        raise FileNotFoundError(f"no adapter weights at {weights}")
    return load_file(str(weights))


def load_trainable_state(peft_model, state: dict[str, torch.Tensor]) -> None:
    params = dict(peft_model.named_parameters())
    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t.to(params[n].device))


@contextmanager
def fused_for_eval(model):
    """Evaluate a LoRA model with each update folded into its layer's weight.

    Inside the context every LoRA-wrapped layer's base weight is replaced by a new
    tensor W + scale * B @ A and peft's adapter path is switched off, so a forward
    pass costs what the base model's does. The original weight tensors are put back
    afterwards untouched (no in-place merge and unmerge, whose rounding would drift
    the shared base weights). Other models (base, (IA)^3) are yielded unchanged.
    """
    from peft import PeftModel
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer)] if isinstance(model, PeftModel) else []
    if not layers:
        yield model
        return
    originals = []
    with torch.no_grad():
        for layer in layers:
            base = layer.get_base_layer()
            deltas = [layer.get_delta_weight(a) for a in layer.active_adapters if a in layer.lora_A]
            if not deltas:
                continue
            delta = deltas[0]
            for more in deltas[1:]:   # what sum() gives, without its extra full-size `0 +` copy
                delta = delta + more
            originals.append((base, base.weight))
            base.weight = torch.nn.Parameter(base.weight + delta.to(base.weight.dtype), requires_grad=False)
    try:
        with model.disable_adapter():
            yield model
    finally:
        for base, weight in originals:
            base.weight = weight
