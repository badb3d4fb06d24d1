"""Shared-prefix batches: prompts that begin with the same demonstrations run the
demonstrations once and only their own tokens against the cached keys and values.

Every evaluation query (and dev example) of one seed is shown the N training
examples in one of a few seeded orderings (icl_work.ICL_ORDERINGS), so all the
prompts of one ordering share a long token prefix. Prompts are tokenized whole,
exactly as a full-prompt computation would; within a group the longest common
token prefix is run once (batch 1) and its cache is expanded over each batch of
suffixes. The suffixes are left-padded *after* the prefix: the attention mask is
ones over the prefix, then the suffix's padding mask, and position ids continue
from the prefix length, so every row computes what its full prompt would alone.
"""
from dataclasses import dataclass
from typing import Hashable, Iterator, Optional

import torch


@dataclass
class SharedPrefix:
    """The keys and values of a token prefix, batch 1, one (keys, values) pair per
    layer; `mask` [1, width] marks its real tokens (prefixes are computed in
    left-padded batches, so a prefix may carry padding on its left)."""

    length: int
    layers: list[tuple[torch.Tensor, torch.Tensor]]
    mask: torch.Tensor

    def cache(self, batch: int):
        """A fresh cache holding the prefix for `batch` rows (the model appends to it)."""
        from transformers import DynamicCache

        return DynamicCache([(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in self.layers])

    def extend(self, mask: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A suffix's attention mask and position ids as seen after the prefix."""
        head = self.mask.to(device=mask.device, dtype=mask.dtype).expand(mask.shape[0], -1)
        return torch.cat([head, mask], dim=1), positions + self.length


def model_inputs(input_ids, attention_mask, position_ids, prefix: Optional[SharedPrefix]) -> dict:
    """Keyword arguments for a forward pass over rows that follow `prefix` (or stand alone)."""
    if prefix is None:
        return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
    mask, pos = prefix.extend(attention_mask, position_ids)
    return {"input_ids": input_ids, "attention_mask": mask, "position_ids": pos,
            "past_key_values": prefix.cache(input_ids.shape[0]), "use_cache": True}


@torch.no_grad()
def compute_prefixes(model, rows: list[list[int]], device) -> list[SharedPrefix]:
    """Several prefixes in one left-padded forward pass."""
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    ids, mask = ids.to(device), mask.to(device)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    layers = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
    return [SharedPrefix(len(r), [(k[i:i + 1], v[i:i + 1]) for k, v in layers], mask[i:i + 1])
            for i, r in enumerate(rows)]


def common_prefix_length(rows: list[list[int]]) -> int:
    """Longest common token prefix, leaving every row at least one token of its own."""
    limit = min(len(r) for r in rows) - 1
    first = rows[0]
    n = 0
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return n


def prefixed_batches(model, rows: list[list[int]], groups: Optional[list[Optional[Hashable]]], batch_size: int,
                     device) -> Iterator[tuple[list[int], list[list[int]], Optional[SharedPrefix]]]:
    """(row indices, their token rows after the shared prefix, the prefix) per batch.

    `groups[i]` names the group row i shares its prefix with; rows whose group is
    None (or all rows when `groups` is None) are batched whole, without a prefix.
    """
    order: dict = {}
    for i in range(len(rows)):
        order.setdefault(None if groups is None else groups[i], []).append(i)
    # a prompt alone gains nothing from a prefix; the others' prefixes run together
    shared = [g for g, members in order.items() if g is not None and len(members) > 1]
    cuts = {g: common_prefix_length([rows[i] for i in order[g]]) for g in shared}
    shared = [g for g in shared if cuts[g] > 0]
    prefixes = {}
    for start in range(0, len(shared), batch_size):
        part = shared[start:start + batch_size]
        prefixes.update(zip(part, compute_prefixes(model, [rows[order[g][0]][:cuts[g]] for g in part], device)))
    for group, members in order.items():
        prefix = prefixes.get(group)
        cut = prefix.length if prefix is not None else 0
        for start in range(0, len(members), batch_size):
            chunk = members[start:start + batch_size]
            yield chunk, [rows[i][cut:] for i in chunk], prefix
