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
    """The keys and values of a token prefix, batch 1, one (keys, values) pair per layer."""

    length: int
    layers: list[tuple[torch.Tensor, torch.Tensor]]

    def cache(self, batch: int):
        """A fresh cache holding the prefix for `batch` rows (the model appends to it)."""
        from transformers import DynamicCache

        return DynamicCache([(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in self.layers])

    def extend(self, mask: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A suffix's attention mask and position ids as seen after the prefix."""
        ones = torch.ones((mask.shape[0], self.length), dtype=mask.dtype, device=mask.device)
        return torch.cat([ones, mask], dim=1), positions + self.length


def model_inputs(input_ids, attention_mask, position_ids, prefix: Optional[SharedPrefix]) -> dict:
    """Keyword arguments for a forward pass over rows that follow `prefix` (or stand alone)."""
    if prefix is None:
        return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
    mask, pos = prefix.extend(attention_mask, position_ids)
    return {"input_ids": input_ids, "attention_mask": mask, "position_ids": pos,
            "past_key_values": prefix.cache(input_ids.shape[0]), "use_cache": True}


@torch.no_grad()
def compute_prefix(model, ids: list[int], device) -> SharedPrefix:
    out = model(input_ids=torch.tensor([ids], device=device), use_cache=True, logits_to_keep=1)
    cache = out.past_key_values
    layers = [(layer.keys, layer.values) for layer in cache.layers]
    return SharedPrefix(len(ids), layers)


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
    for group, members in order.items():
        prefix, cut = None, 0
        if group is not None and len(members) > 1:   # a prompt alone gains nothing from a prefix
            cut = common_prefix_length([rows[i] for i in members])
            prefix = compute_prefix(model, rows[members[0]][:cut], device) if cut else None
        for start in range(0, len(members), batch_size):
            chunk = members[start:start + batch_size]
            yield chunk, [rows[i][cut:] for i in chunk], prefix
