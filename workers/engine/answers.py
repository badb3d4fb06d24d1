"""What a model answers to a batch of prompts, and its activations while answering.

`answer_pass` decides each prompt's answer tokens (the best label of the label
set, or a greedy generation), then reads the self-attention outputs at the
positions that produce those tokens and the top-K of the next-token
distribution there. Single-token label sets take a single forward pass.
"""
from dataclasses import dataclass
from typing import Optional

import torch

from .capture import ActivationCapture
from .generation import greedy_generate
from .scoring import label_token_ids, score_label_set
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


@torch.no_grad()
def teacher_pass(model, capture: ActivationCapture, prompt_ids, answer_ids, pad_id, device, top_k: int,
                 act_dtype=torch.float32):
    """Teacher-force answer tokens after prompts; returns (acts, soft ids, soft probs, logits [B, M, V])."""
    batch = build_batch(prompt_ids, answer_ids, pad_id).to(device)
    capture.positions = batch.answer_positions
    logits = answer_logits(model, batch).float()
    acts = capture.take().to("cpu", act_dtype)
    capture.positions = None
    probs = torch.softmax(logits, dim=-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    mask = batch.answer_mask.cpu()
    rows = _split_rows(acts, mask, top.indices.cpu(), top.values.cpu())
    return rows[0], rows[1], rows[2], logits, batch


def answer_pass(lm, prompts: list[str], labels: Optional[list[str]], want_acts: bool, top_k: int = 32,
                max_new_tokens: int = 64, batch_size: int = 16, reporter=None, stage: str = "icl",
                act_dtype=torch.float32) -> Answers:
    """Answer every prompt with the base model (no adapter), in batches."""
    model, tok, device = lm.model, lm.tokenizer, lm.device
    pad = tok.pad_token_id
    result = Answers(None, [], [], [], [], [])
    scores = []
    label_ids = label_token_ids(tok, labels) if labels else None
    single = label_ids is not None and all(len(ids) == 1 for ids in label_ids)
    total = len(prompts)
    with ActivationCapture(model) as capture:
        for start in range(0, total, batch_size):
            chunk = prompts[start:start + batch_size]
            prompt_ids = encode_prompts(tok, chunk)
            if single:
                acts, sids, sprobs, logits, _ = teacher_pass(model, capture, prompt_ids, [[pad]] * len(chunk),
                                                             pad, device, top_k, act_dtype)
                logp = torch.log_softmax(logits[:, -1], dim=-1)
                lp = torch.stack([logp[:, ids[0]] for ids in label_ids], dim=1).cpu()
                best = lp.argmax(-1).tolist()
                answer = [list(label_ids[b]) for b in best]
                scores.append(lp)
                result.texts += [labels[b] for b in best]
            else:
                if label_ids is not None:
                    lp = score_label_set(model, tok, chunk, labels, device, batch_size=len(chunk))
                    best = lp.argmax(-1).tolist()
                    answer = [list(label_ids[b]) for b in best]
                    scores.append(lp)
                    result.texts += [labels[b] for b in best]
                else:
                    gen_ids, texts, _ = greedy_generate(model, tok, chunk, device, max_new_tokens)
                    answer = [_trim_generation(tok, ids) for ids in gen_ids]
                    result.texts += texts
                acts, sids, sprobs = [], [], []
                if want_acts:
                    acts, sids, sprobs, _, _ = teacher_pass(model, capture, prompt_ids, answer, pad, device,
                                                            top_k, act_dtype)
            result.answer_ids += answer
            if want_acts:
                result.acts += acts
                result.soft_ids += sids
                result.soft_probs += sprobs
            if reporter is not None:
                reporter.tick(stage, min(start + batch_size, total), total)
    if scores:
        result.label_logprobs = torch.cat(scores)
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
