"""What a model answers to a batch of prompts, and its activations while answering.

`answer_pass` decides each prompt's answer tokens (the best label of the label
set, or a greedy generation), then reads the self-attention outputs at the
positions that produce those tokens and the top-K of the next-token
distribution there. Single-token label sets take a single forward pass.
Prompts that share their demonstrations run them once (prefix.py).
"""
from dataclasses import dataclass
from typing import Hashable, NamedTuple, Optional

import torch

from .capture import ActivationCapture
from .generation import generate_rows
from .prefix import SharedPrefix, prefixed_batches
from .scoring import label_token_ids, score_rows
from .sequences import answer_logits, build_batch, encode_prompts


@dataclass
class Answers:
    """Per prompt: label log-probs (classification) or text (generation), the
    answer tokens, activations [layers, m, hidden] and soft targets."""

    label_logprobs: Optional[torch.Tensor]
    texts: list[str]
    answer_ids: list[list[int]]
    acts: list[torch.Tensor]
    soft_ids: list[torch.Tensor]
    soft_probs: list[torch.Tensor]


def _split_rows(acts, mask, top_ids, top_probs):
    out_acts, out_ids, out_probs = [], [], []
    for i in range(acts.shape[0]):
        m = mask[i]
        out_acts.append(acts[i][:, m].contiguous())
        out_ids.append(top_ids[i][m].contiguous())
        out_probs.append(top_probs[i][m].contiguous())
    return out_acts, out_ids, out_probs


class TeacherOutput(NamedTuple):
    """Per row: activations [layers, m, hidden], top-K ids and probs [m, K]; and the logits [B, M, V]."""

    acts: list[torch.Tensor]
    soft_ids: list[torch.Tensor]
    soft_probs: list[torch.Tensor]
    logits: torch.Tensor


@torch.no_grad()
def teacher_pass(model, capture: ActivationCapture, prompt_ids, answer_ids, pad_id, device, top_k: int,
                 act_dtype=torch.float32, prefix: Optional[SharedPrefix] = None) -> TeacherOutput:
    """Teacher-force answer tokens after prompts (which follow `prefix` when given)."""
    batch = build_batch(prompt_ids, answer_ids, pad_id, prefix).to(device)
    capture.positions = batch.answer_positions
    logits = answer_logits(model, batch).float()
    acts = capture.take().to("cpu", act_dtype)
    capture.positions = None
    probs = torch.softmax(logits, dim=-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    mask = batch.answer_mask.cpu()
    rows = _split_rows(acts, mask, top.indices.cpu(), top.values.cpu())
    return TeacherOutput(rows[0], rows[1], rows[2], logits)


def answer_pass(lm, prompts: list[str], labels: Optional[list[str]], want_acts: bool, top_k: int = 32,
                max_new_tokens: int = 64, batch_size: int = 16, reporter=None, stage: str = "icl",
                act_dtype=torch.float32, groups: Optional[list[Optional[Hashable]]] = None) -> Answers:
    """Answer every prompt with the base model (no adapter), in batches.

    Prompts with the same `groups` entry share their demonstrations, which are
    run once per group (prefix.py); the results equal the full-prompt ones."""
    model, tok, device = lm.model, lm.tokenizer, lm.device
    pad = tok.pad_token_id
    total = len(prompts)
    label_ids = label_token_ids(tok, labels) if labels else None
    single = label_ids is not None and all(len(ids) == 1 for ids in label_ids)
    slots: list[Optional[tuple]] = [None] * total   # per prompt: (label logprobs, text, answer, acts, ids, probs)
    done = 0
    rows_all = encode_prompts(tok, prompts) if prompts else []
    with ActivationCapture(model) as capture:
        for index, rows, prefix in prefixed_batches(model, rows_all, groups, batch_size, device):
            lp = None
            if single:
                out = teacher_pass(model, capture, rows, [[pad]] * len(rows), pad, device, top_k, act_dtype, prefix)
                logp = torch.log_softmax(out.logits[:, -1], dim=-1)
                lp = torch.stack([logp[:, ids[0]] for ids in label_ids], dim=1).cpu()
            elif label_ids is not None:
                lp = score_rows(model, rows, label_ids, pad, device, prefix)
            if lp is not None:
                best = lp.argmax(-1).tolist()
                answer = [list(label_ids[b]) for b in best]
                texts = [labels[b] for b in best]
            else:
                gen_ids, texts, _ = generate_rows(model, tok, rows, device, max_new_tokens, prefix=prefix)
                answer = [_trim_generation(tok, ids) for ids in gen_ids]
            if want_acts and not single:
                out = teacher_pass(model, capture, rows, answer, pad, device, top_k, act_dtype, prefix)
            for j, i in enumerate(index):
                extra = (out.acts[j], out.soft_ids[j], out.soft_probs[j]) if want_acts else (None, None, None)
                slots[i] = (lp[j] if lp is not None else None, texts[j], answer[j]) + extra
            done += len(index)
            if reporter is not None:
                reporter.tick(stage, done, total)
    result = Answers(None, [s[1] for s in slots], [s[2] for s in slots], [], [], [])
    if want_acts:
        result.acts, result.soft_ids, result.soft_probs = ([s[k] for s in slots] for k in (3, 4, 5))
    if label_ids is not None and slots:
        result.label_logprobs = torch.stack([s[0] for s in slots])
    elif label_ids is not None:
        result.label_logprobs = torch.zeros((0, len(label_ids)))
    return result


def _trim_generation(tok, ids: list[int]) -> list[int]:
    """Generated tokens up to the stop (blank line or end of sequence); at least one token."""
    kept: list[int] = []
    for t in ids:
        if t == tok.eos_token_id:
            break
        if "\n\n" in tok.decode(kept + [t], skip_special_tokens=True):
            break
        kept.append(t)
    return kept or ids[:1]
