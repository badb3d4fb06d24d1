"""Expanding a config into runs (method x N x seed); torch-free, for the web app."""
from dataclasses import dataclass

from .config import load_config


@dataclass(frozen=True)
class RunKey:
    method: str
    n: int
    seed: int

    def label(self) -> str:
        return f"{self.method} N={self.n} seed={self.seed}"


def plan_runs(config) -> list[RunKey]:
    cfg = load_config(config)
    return [RunKey(m, n, s) for n in cfg.n for s in cfg.seeds for m in cfg.methods]
