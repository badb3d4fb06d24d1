"""Representation-similarity measures used to compare adapted models with ICL.

* ``cosine_per_layer_token`` / ``similarity_summary``: cosine similarity over
  the hidden dimension between two sets of activations (e.g. self-attention
  outputs of the base model with ICL demos vs. an adapted model without
  demos), per (layer, token), summarised per layer and overall.
* ``linear_cka`` / ``layer_cka``: linear centred kernel alignment, a
  rotation- and scale-invariant comparison of two activation matrices.
* ``lora_subspace_overlap``: how much the column spaces of the ``lora_B``
  matrices of two LoRA adapters coincide.

Inputs are torch tensors (numpy arrays are accepted where noted); results are
plain Python floats/lists ready for JSON.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "cosine_per_layer_token",
    "layer_cka",
    "linear_cka",
    "lora_subspace_overlap",
    "similarity_summary",
]

ActivationPair = tuple[torch.Tensor, torch.Tensor]


def _as_tensor(values: Any) -> torch.Tensor:
    if isinstance(values, torch.Tensor):
        return values.detach()
    return torch.as_tensor(np.asarray(values))


def _compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    # Half precision activations are upcast; float64 stays float64.
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


# ---------------------------------------------------------------------------
# Cosine similarity
# ---------------------------------------------------------------------------


def cosine_per_layer_token(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity over the hidden dimension.

    a, b: [layers, tokens, hidden] activations of the same shape.
    Returns [layers, tokens] (float32, or float64 for float64 input); a zero
    vector has cosine 0 with anything.
    """
    a = _as_tensor(a)
    b = _as_tensor(b)
    if a.shape != b.shape or a.dim() != 3:
        raise ValueError(
            f"expected two [layers, tokens, hidden] tensors of equal shape, got {tuple(a.shape)} "
            f"and {tuple(b.shape)}"
        )
    dtype = _compute_dtype(a)
    return F.cosine_similarity(a.to(dtype), b.to(device=a.device, dtype=dtype), dim=-1)


def similarity_summary(pairs: Sequence[ActivationPair]) -> dict:
    """Summarise per-(layer, token) cosine similarity over evaluation examples.

    pairs: one (a, b) per example, each [layers, tokens_i, hidden]; the token
        count may differ between examples, the layer count may not.
    Returns {"layer_similarity": [per layer: mean over all tokens of all
    examples], "mean_similarity": mean of layer_similarity,
    "per_example": [per example: mean over its layers and tokens]}.
    """
    if len(pairs) == 0:
        raise ValueError("similarity_summary needs at least one (a, b) pair")
    layer_sums = None
    total_tokens = 0
    per_example = []
    for index, (a, b) in enumerate(pairs):
        cosines = cosine_per_layer_token(a, b).to("cpu", torch.float64)
        if layer_sums is None:
            layer_sums = torch.zeros(cosines.shape[0], dtype=torch.float64)
        elif cosines.shape[0] != layer_sums.shape[0]:
            raise ValueError(
                f"example {index} has {cosines.shape[0]} layers, expected {layer_sums.shape[0]}"
            )
        if cosines.shape[1] == 0:
            raise ValueError(f"example {index} has no tokens")
        layer_sums += cosines.sum(dim=1)
        total_tokens += cosines.shape[1]
        per_example.append(float(cosines.mean()))
    layer_similarity = (layer_sums / total_tokens).tolist()
    return {
        "layer_similarity": layer_similarity,
        "mean_similarity": float(np.mean(layer_similarity)),
        "per_example": per_example,
    }


# ---------------------------------------------------------------------------
# Linear CKA
# ---------------------------------------------------------------------------


def linear_cka(x: Any, y: Any) -> float:
    """Linear CKA between x [n, d1] and y [n, d2] (same rows, e.g. tokens).

    Columns are centred, then CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F),
    computed in float64 (through the n x n Gram matrices when n is smaller
    than the feature dimension, which gives the same value). Lies in [0, 1];
    returns 0.0 when either side has no variance.
    """
    x = _as_tensor(x)
    y = _as_tensor(y)
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"expected [n, d] matrices with the same n, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    x = x.to(torch.float64)
    y = y.to(device=x.device, dtype=torch.float64)
    x = x - x.mean(dim=0, keepdim=True)
    y = y - y.mean(dim=0, keepdim=True)
    n_rows = x.shape[0]
    if n_rows < max(x.shape[1], y.shape[1]):
        gram_x = x @ x.T
        gram_y = y @ y.T
        numerator = torch.sum(gram_x * gram_y)
        denominator = torch.linalg.norm(gram_x) * torch.linalg.norm(gram_y)
    else:
        numerator = torch.linalg.norm(y.T @ x) ** 2
        denominator = torch.linalg.norm(x.T @ x) * torch.linalg.norm(y.T @ y)
    denominator = float(denominator)
    if not np.isfinite(denominator) or denominator <= 0.0:
        return 0.0
    value = float(numerator) / denominator
    if not np.isfinite(value):
        return 0.0
    return min(max(value, 0.0), 1.0)


def layer_cka(pairs: Sequence[ActivationPair]) -> list[float]:
    """Linear CKA per layer: for each layer, the token rows of all examples
    are stacked ([sum of tokens, hidden] for a and for b) and compared with
    ``linear_cka``. pairs as in ``similarity_summary``."""
    if len(pairs) == 0:
        raise ValueError("layer_cka needs at least one (a, b) pair")
    n_layers = _as_tensor(pairs[0][0]).shape[0]
    for index, (a, b) in enumerate(pairs):
        a, b = _as_tensor(a), _as_tensor(b)
        if a.dim() != 3 or a.shape != b.shape or a.shape[0] != n_layers:
            raise ValueError(
                f"example {index}: expected [{n_layers}, tokens, hidden] pairs of equal shape, "
                f"got {tuple(a.shape)} and {tuple(b.shape)}"
            )
    stacked_a = torch.cat([_as_tensor(a) for a, _ in pairs], dim=1)
    stacked_b = torch.cat([_as_tensor(b).to(stacked_a.device) for _, b in pairs], dim=1)
    return [linear_cka(stacked_a[layer], stacked_b[layer]) for layer in range(n_layers)]


# ---------------------------------------------------------------------------
# LoRA subspace overlap
# ---------------------------------------------------------------------------

# "...q_proj.lora_B.weight" (saved adapter) and "...q_proj.lora_B.default.weight"
# (a live peft model's state_dict) name the same matrix.
_ADAPTER_NAME_SEGMENT = re.compile(r"\.lora_B\.[^.]+\.weight$")


def _lora_b_matrices(adapter: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    matrices = {}
    for key, value in adapter.items():
        if "lora_B" not in key or not isinstance(value, torch.Tensor) or value.dim() != 2:
            continue
        matrices[_ADAPTER_NAME_SEGMENT.sub(".lora_B.weight", key)] = value
    return matrices


def _top_left_singular_vectors(matrix: torch.Tensor, r: int) -> torch.Tensor:
    u, _, _ = torch.linalg.svd(matrix.detach().to("cpu", torch.float64), full_matrices=False)
    return u[:, :r]


def lora_subspace_overlap(
    adapter_a: dict[str, torch.Tensor],
    adapter_b: dict[str, torch.Tensor],
    r: int | None = None,
) -> dict:
    """Overlap of the column spaces of matching ``lora_B`` matrices.

    adapter_a, adapter_b: state dicts of two peft LoRA adapters (either the
        saved form ``...lora_B.weight`` or a live model's
        ``...lora_B.<adapter>.weight``; they are matched by module).
    r: number of top left singular vectors compared; default the smaller of
        the two adapters' ranks for each module.
    For each module, U_i = top-r left singular vectors of lora_B_i ([out, r])
    and overlap = ||U_a^T U_b||_F^2 / r, which is 1 for identical subspaces
    and 0 for orthogonal ones; two independent random r-dimensional subspaces
    of R^out give r / out on average (the chance level, "random"). Modules
    whose lora_B is all zeros in either adapter (untrained) have no defined
    subspace and are listed under "skipped" instead. Returns {"per_module":
    {key: overlap}, "mean": mean over per_module (nan if empty), "random":
    mean over the same modules of r / out (nan if empty), "skipped": [keys]}.
    """
    matrices_a = _lora_b_matrices(adapter_a)
    matrices_b = _lora_b_matrices(adapter_b)
    common = sorted(set(matrices_a) & set(matrices_b))
    if not common:
        raise ValueError("the two adapters share no lora_B matrices (are both LoRA adapters of one model?)")
    if r is not None and r < 1:
        raise ValueError(f"r must be a positive integer, got {r}")

    per_module: dict[str, float] = {}
    chance: list[float] = []
    skipped: list[str] = []
    for key in common:
        b_a, b_b = matrices_a[key], matrices_b[key]
        if b_a.shape[0] != b_b.shape[0]:
            raise ValueError(
                f"{key}: output sizes differ ({b_a.shape[0]} vs {b_b.shape[0]})"
            )
        if not torch.any(b_a != 0) or not torch.any(b_b != 0):
            skipped.append(key)
            continue
        available = min(b_a.shape[0], b_a.shape[1], b_b.shape[1])
        rank = available if r is None else r
        if rank > available:
            raise ValueError(f"{key}: r={r} exceeds the available rank {available}")
        u_a = _top_left_singular_vectors(b_a, rank)
        u_b = _top_left_singular_vectors(b_b, rank)
        per_module[key] = float(torch.linalg.norm(u_a.T @ u_b) ** 2 / rank)
        chance.append(rank / b_a.shape[0])
    mean = float(np.mean(list(per_module.values()))) if per_module else float("nan")
    random_level = float(np.mean(chance)) if chance else float("nan")
    return {"per_module": per_module, "mean": mean, "random": random_level, "skipped": skipped}
