"""Scores a label set for many prompts at once: the sum of log-probabilities of
each label's whole token sequence after the prompt.

Single-token label sets need one forward pass. Longer labels reuse the prompt's
KV cache: the cache is repeated once per label and only the label tokens are fed.
Prompts that share their demonstrations (`groups`, see prefix.py) run them once.
"""
from typing import Hashable, Optional

import torch

from .prefix import SharedPrefix, model_inputs, prefixed_batches
from .sequences import encode_prompts, left_pad, positions_from_mask


def label_token_ids(tokenizer, labels: list[str]) -> list[list[int]]:
    return tokenizer(list(labels), add_special_tokens=False)["input_ids"]


@torch.no_grad()
def score_label_set(model, tokenizer, prompts: list[str], labels: list[str], device: str,
                    batch_size: int = 32, reporter=None, stage: str = "eval",
                    groups: Optional[list[Optional[Hashable]]] = None) -> torch.Tensor:
    """[n_prompts, n_labels] summed log-probabilities (float32, on CPU)."""
    label_ids = label_token_ids(tokenizer, labels)
    rows = encode_prompts(tokenizer, prompts)
    result = torch.zeros((len(rows), len(labels)))
    done = 0
    for index, suffixes, prefix in prefixed_batches(model, rows, groups, batch_size, device):
        result[index] = score_rows(model, suffixes, label_ids, tokenizer.pad_token_id, device, prefix)
        done += len(index)
        if reporter is not None:
            reporter.tick(stage, done, len(rows))
    return result


def score_rows(model, rows: list[list[int]], label_ids: list[list[int]], pad: int, device,
               prefix: Optional[SharedPrefix] = None) -> torch.Tensor:
    """Summed label log-probabilities [len(rows), labels] for one batch of token rows (after `prefix`)."""
    longest = max(len(ids) for ids in label_ids)
    ids, mask = left_pad(rows, pad)
    ids, mask = ids.to(device), mask.to(device)
    inputs = model_inputs(ids, mask, positions_from_mask(mask), prefix)
    out = model(**{"use_cache": longest > 1, **inputs}, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
    scores = torch.stack([first[:, ids_[0]] for ids_ in label_ids], dim=1)
    if longest > 1:
        scores = scores + _continuations(model, out.past_key_values, inputs["attention_mask"],
                                         inputs["position_ids"], label_ids, pad, device)
    return scores.cpu()


def _continuations(model, cache, mask, pos, label_ids, pad, device) -> torch.Tensor:
    """Log-probs of label tokens 2..m given the cached prompt, all labels in one batch."""
    b, n_labels = mask.shape[0], len(label_ids)
    width = max(len(ids) for ids in label_ids) - 1
    cache.batch_repeat_interleave(n_labels)
    cont = torch.full((n_labels, width), pad, dtype=torch.long)
    valid = torch.zeros((n_labels, width), dtype=torch.bool)
    for j, ids in enumerate(label_ids):
        cont[j, :len(ids) - 1] = torch.tensor(ids[:-1][:width]) if len(ids) > 1 else cont[j, :0]
        valid[j, :len(ids) - 1] = True
    # row order after repeat_interleave: prompt-major, label-minor
    cont_ids = cont.repeat(b, 1).to(device)
    cont_valid = valid.repeat(b, 1).to(device)
    full_mask = torch.cat([mask.repeat_interleave(n_labels, 0), torch.ones_like(cont_ids)], dim=1)
    start = pos[:, -1:].repeat_interleave(n_labels, 0) + 1
    cont_pos = start + torch.arange(width, device=device).unsqueeze(0)
    out = model(input_ids=cont_ids, attention_mask=full_mask, position_ids=cont_pos,
                past_key_values=cache, use_cache=True)
    logp = torch.log_softmax(out.logits.float(), dim=-1)
    targets = torch.full((n_labels, width), 0, dtype=torch.long)
    for j, ids in enumerate(label_ids):
        targets[j, :len(ids) - 1] = torch.tensor(ids[1:]) if len(ids) > 1 else targets[j, :0]
    targets = targets.repeat(b, 1).to(device)
    token_lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1) * cont_valid
    return token_lp.sum(-1).view(b, n_labels)
