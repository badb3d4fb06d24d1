"""Adapter and training settings with their defaults and checks (no torch import,
so the web app can validate a config without loading the engine)."""
from dataclasses import dataclass, field

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



@dataclass
class TrainingSettings:
    lr: list[float] = field(default_factory=lambda: [1e-3])
    max_epochs: int = 50
    patience: int = 5
    batch_size: int = 4
    micro_batch_size: int = 0          # 0 = the whole batch at once; else accumulate
    joint_weight: float = 0.5          # w in (1-w)*MSE + w*CE
    soft_top_k: int = 32

    @classmethod
    def from_dict(cls, d: dict | None) -> "TrainingSettings":
        d = dict(d or {})
        s = cls()
        for k, v in d.items():
            if not hasattr(s, k):
                raise ConfigError(f"training.{k}", f"unknown training setting; known: {sorted(vars(s))}")
            setattr(s, k, v)
        if isinstance(s.lr, (int, float)):
            s.lr = [float(s.lr)]
        if not s.lr or any(not isinstance(x, (int, float)) or x <= 0 for x in s.lr):
            raise ConfigError("training.lr", "give a positive learning rate or a list to choose from on the dev split")
        for name in ("max_epochs", "patience", "batch_size"):
            if not isinstance(getattr(s, name), int) or getattr(s, name) < 1:
                raise ConfigError(f"training.{name}", "must be a positive integer")
        if not 0 <= s.joint_weight <= 1:
            raise ConfigError("training.joint_weight", "must be between 0 and 1")
        return s
