"""Adapters through peft: LoRA (default r=8, alpha=8 on q, k, o) and (IA)^3.

The adapter is injected into the loaded base model for one run and removed
afterwards, so the same base weights serve every method in a process.
"""
from dataclasses import dataclass, field

import torch

from .errors import ConfigError

DEFAULT_LORA_TARGETS = ["q_proj", "k_proj", "o_proj"]


@dataclass
class AdapterSettings:
    type: str = "lora"
    r: int = 8
    alpha: float = 8.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_LORA_TARGETS))
    feedforward_modules: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, d: dict | None) -> "AdapterSettings":
        d = dict(d or {})
        kind = d.pop("type", "lora")
        if kind not in ("lora", "ia3"):
            raise ConfigError("adapter.type", f"'{kind}' is not supported; use lora or ia3")
        known = {"r", "alpha", "dropout", "target_modules", "feedforward_modules"}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"adapter.{sorted(unknown)[0]}", f"unknown adapter setting; known: {sorted(known)}")
        s = cls(type=kind)
        if kind == "ia3" and "target_modules" not in d:
            s.target_modules = []  # peft's per-architecture default
        for k, v in d.items():
            setattr(s, k, v)
        if not isinstance(s.r, int) or s.r < 1:
            raise ConfigError("adapter.r", "the LoRA rank must be a positive integer (the paper uses 8)")
        if not isinstance(s.alpha, (int, float)) or s.alpha <= 0:
            raise ConfigError("adapter.alpha", "alpha must be a positive number (the paper uses 8)")
        if isinstance(s.target_modules, str):
            s.target_modules = [m.strip() for m in s.target_modules.split(",") if m.strip()]
        return s


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


def load_trainable_state(peft_model, state: dict[str, torch.Tensor]) -> None:
    params = dict(peft_model.named_parameters())
    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t.to(params[n].device))
