"""Token batches: prompts followed by teacher-forced answer tokens, left-padded so
that every row's answer sits at the right edge.

A row is `prompt + answer[:-1]`; its last len(answer) positions are the ones that
produce the answer tokens. Those positions are where IA2 reads activations and
where cross-entropy is taken. Position ids follow the attention mask, so a padded
row computes exactly what it would alone. With a shared prefix (prefix.py) the
rows are the tokens after it, and the forward pass attends to the prefix's cache.
"""
from dataclasses import dataclass
from typing import Optional

import torch

from .prefix import SharedPrefix, model_inputs


@dataclass
class TokenBatch:
    input_ids: torch.Tensor        # [B, T]
    attention_mask: torch.Tensor   # [B, T]
    position_ids: torch.Tensor     # [B, T]
    answer_positions: torch.Tensor  # [B, M] indices into T
    answer_mask: torch.Tensor      # [B, M] True where an answer token exists
    answer_ids: torch.Tensor       # [B, M] the answer tokens (pad where mask is False)
    prefix: Optional[SharedPrefix] = None  # demonstrations every row follows (already on the device)

    @property
    def width(self) -> int:
        return self.answer_positions.shape[1]

    def to(self, device) -> "TokenBatch":
        return TokenBatch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.position_ids,
                                                  self.answer_positions, self.answer_mask, self.answer_ids)),
                          prefix=self.prefix)

    def model_inputs(self) -> dict:
        return model_inputs(self.input_ids, self.attention_mask, self.position_ids, self.prefix)


def positions_from_mask(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask), each [len(rows), longest], with every row right-aligned."""
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, length - len(row):] = torch.tensor(row)
        mask[i, length - len(row):] = 1
    return ids, mask


def encode_prompts(tokenizer, prompts: list[str]) -> list[list[int]]:
    return tokenizer(list(prompts), add_special_tokens=True)["input_ids"]


def encode_answers(tokenizer, answers: list[str]) -> list[list[int]]:
    return tokenizer(list(answers), add_special_tokens=False)["input_ids"]


def build_batch(prompt_ids: list[list[int]], answer_ids: list[list[int]], pad_id: int,
                prefix: Optional[SharedPrefix] = None) -> TokenBatch:
    """Left-padded rows of prompt + answer[:-1], with the answer positions marked."""
    rows = [list(p) + list(a[:-1]) for p, a in zip(prompt_ids, answer_ids)]
    if not all(answer_ids):
        raise ValueError("an answer tokenized to zero tokens")
    width = max(len(a) for a in answer_ids)
    ids, mask = left_pad(rows, pad_id)
    b, length = ids.shape
    pos = torch.full((b, width), length - 1, dtype=torch.long)
    amask = torch.zeros((b, width), dtype=torch.bool)
    aids = torch.full((b, width), pad_id, dtype=torch.long)
    for i, ans in enumerate(answer_ids):
        m = len(ans)
        pos[i, width - m:] = torch.arange(length - m, length)
        amask[i, width - m:] = True
        aids[i, width - m:] = torch.tensor(ans)
    return TokenBatch(ids, mask, positions_from_mask(mask), pos, amask, aids, prefix)


def gather_positions(tensor: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """tensor [B, T, D] -> [B, M, D] at positions [B, M]."""
    return tensor.gather(1, positions.unsqueeze(-1).expand(-1, -1, tensor.shape[-1]))


def answer_logits(model, batch: TokenBatch) -> torch.Tensor:
    """Logits [B, M, V] at the answer-producing positions (only the last M are computed)."""
    out = model(**{"use_cache": False, **batch.model_inputs()}, logits_to_keep=batch.width)
    offset = batch.input_ids.shape[1] - batch.width
    return gather_positions(out.logits, batch.answer_positions - offset)
