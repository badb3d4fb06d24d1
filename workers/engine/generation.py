"""Greedy decoding with the KV cache (one forward pass per new token), batched,
stopping at a blank line, the end-of-sequence token or a token budget.

Optionally captures the attention outputs at every position that produces an
answer token (the last prompt token, then each generated token but the last).
Rows may follow a shared prefix (prefix.py): decoding then starts from its cache.
"""
from typing import Optional

import torch

from .prefix import SharedPrefix, model_inputs
from .sequences import encode_prompts, left_pad, positions_from_mask

STOP_TEXT = "\n\n"


def greedy_generate(model, tokenizer, prompts: list[str], device: str, max_new_tokens: int = 64,
                    capture=None) -> tuple[list[list[int]], list[str], list]:
    """Returns (token ids, texts up to the stop, captured [layers, m, hidden] per row or [])."""
    return generate_rows(model, tokenizer, encode_prompts(tokenizer, prompts), device, max_new_tokens, capture)


@torch.no_grad()
def generate_rows(model, tokenizer, rows: list[list[int]], device, max_new_tokens: int = 64, capture=None,
                  prefix: Optional[SharedPrefix] = None) -> tuple[list[list[int]], list[str], list]:
    """greedy_generate on token rows (that follow `prefix` when given)."""
    pad = tokenizer.pad_token_id
    eos = tokenizer.eos_token_id
    ids, mask = left_pad(rows, pad)
    b = ids.shape[0]
    ids, mask = ids.to(device), mask.to(device)
    first = model_inputs(ids, mask, positions_from_mask(mask), prefix)
    mask, step_pos, cache = first["attention_mask"], first["position_ids"], first.get("past_key_values")
    generated = [[] for _ in range(b)]
    texts = [""] * b
    done = torch.zeros(b, dtype=torch.bool)
    steps_acts = []
    step_ids = ids
    for step in range(max_new_tokens):
        if capture is not None:
            capture.positions = torch.full((b, 1), step_ids.shape[1] - 1, dtype=torch.long, device=device)
        out = model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos,
                    past_key_values=cache, use_cache=True, logits_to_keep=1)
        if capture is not None:
            steps_acts.append(capture.take().float().cpu()[:, :, 0])
        cache = out.past_key_values
        nxt = out.logits[:, -1].argmax(-1)
        for i in range(b):
            if done[i]:
                continue
            tok = int(nxt[i])
            generated[i].append(tok)
            texts[i] = tokenizer.decode(generated[i], skip_special_tokens=True)
            if tok == eos or STOP_TEXT in texts[i]:
                done[i] = True
        if bool(done.all()):
            break
        step_ids = nxt.unsqueeze(1)
        step_pos = step_pos[:, -1:] + 1
        mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=device)], dim=1)
    if capture is not None:
        capture.positions = None
    per_row = []
    if steps_acts:
        stacked = torch.stack(steps_acts, dim=2)  # [B, layers, steps, hidden]
        per_row = [stacked[i, :, :len(generated[i])] for i in range(b)]
    return generated, [t.split(STOP_TEXT)[0] for t in texts], per_row
