"""Scores a label set for many prompts at once: the sum of log-probabilities of
each label's whole token sequence after the prompt.

Single-token label sets need one forward pass. Longer labels reuse the prompt's
KV cache: the cache is repeated once per label and only the label tokens are fed.
"""
import torch

from .sequences import encode_prompts, left_pad, positions_from_mask


def label_token_ids(tokenizer, labels: list[str]) -> list[list[int]]:
    return tokenizer(list(labels), add_special_tokens=False)["input_ids"]


@torch.no_grad()
def score_label_set(model, tokenizer, prompts: list[str], labels: list[str], device: str,
                    batch_size: int = 32, capture=None, reporter=None, stage: str = "eval") -> torch.Tensor:
    """[n_prompts, n_labels] summed log-probabilities (float32, on CPU).

    If `capture` (an ActivationCapture) is given, it records the last prompt token's
    attention outputs and they are returned as a second value [n, layers, 1, hidden].
    """
    label_ids = label_token_ids(tokenizer, labels)
    n_labels = len(labels)
    longest = max(len(ids) for ids in label_ids)
    pad = tokenizer.pad_token_id
    all_ids = encode_prompts(tokenizer, prompts)
    scores, captured = [], []
    for start in range(0, len(all_ids), batch_size):
        rows = all_ids[start:start + batch_size]
        ids, mask = left_pad(rows, pad)
        length = ids.shape[1]
        ids, mask = ids.to(device), mask.to(device)
        pos = positions_from_mask(mask)
        if capture is not None:
            capture.positions = torch.full((len(rows), 1), length - 1, dtype=torch.long, device=device)
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=longest > 1, logits_to_keep=1)
        if capture is not None:
            captured.append(capture.take().float().cpu())
            capture.positions = None
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        batch_scores = torch.stack([first[:, ids_[0]] for ids_ in label_ids], dim=1)
        if longest > 1:
            batch_scores = batch_scores + _continuations(model, out.past_key_values, mask, pos, label_ids, pad, device)
        scores.append(batch_scores.cpu())
        if reporter is not None:
            reporter.tick(stage, min(start + batch_size, len(all_ids)), len(all_ids))
    result = torch.cat(scores) if scores else torch.zeros((0, n_labels))
    if capture is not None:
        return result, torch.cat(captured)
    return result


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
