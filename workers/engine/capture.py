"""Captures each layer's self-attention output (after o_proj, before the residual
add) at chosen token positions, with forward hooks.

Positions are gathered inside the hook, so only [batch, positions, hidden] per
layer is kept, never the whole sequence; the gather index is built once per
forward pass (on the first layer's device), not once per layer. With
`detach=False` the captured tensors stay in the autograd graph (the IA2
student); otherwise they are detached.
"""
from typing import Optional

import torch

from .architecture import attention_modules


class ActivationCapture:
    """Context manager: while active, every forward pass of `model` records its
    attention outputs at `self.positions` ([batch, P] indices, or None for all)."""

    def __init__(self, model, detach: bool = True):
        self.modules = attention_modules(model)
        self.detach = detach
        self.positions = None
        self._layers: list[Optional[torch.Tensor]] = [None] * len(self.modules)
        self._handles = []

    @property
    def positions(self) -> Optional[torch.Tensor]:
        return self._positions

    @positions.setter
    def positions(self, value: Optional[torch.Tensor]) -> None:
        self._positions = value
        self._index: Optional[torch.Tensor] = None   # built by the first hook that needs it

    def _gather(self, out: torch.Tensor) -> torch.Tensor:
        """out [B, T, D] at the positions, with one index per forward pass (per device)."""
        if self._index is None or self._index.device != out.device:
            self._index = self._positions.to(out.device).unsqueeze(-1).expand(-1, -1, out.shape[-1])
        return out.gather(1, self._index)

    def _hook(self, index: int):
        def hook(_module, _inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            if self._positions is not None:
                out = self._gather(out)
            self._layers[index] = out.detach() if self.detach else out
        return hook

    def __enter__(self) -> "ActivationCapture":
        self._handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(self.modules)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def take(self) -> torch.Tensor:
        """The last forward pass's outputs as [batch, layers, positions, hidden]; clears them."""
        if any(t is None for t in self._layers):
            raise RuntimeError("no forward pass was captured on every layer")
        out = torch.stack(self._layers, dim=1)
        self._layers = [None] * len(self.modules)
        return out
