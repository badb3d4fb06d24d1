"""The training losses, each on a batch of TrainItems for a peft-wrapped model:
cross-entropy on answer tokens (SFT), IA2's activation MSE, KL to the ICL
model's output distribution (soft-label SFT), and the joint IA2+SFT loss.

Their names, formulas and units (what the charts say) are the table LOSSES of
loss_definitions.py, re-exported here; it is kept in a torch-free module so the web
process can read it."""
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from .capture import ActivationCapture
from .loss_definitions import LOSSES  # noqa: F401 - the definitions table of these losses
from .sequences import TokenBatch, answer_logits, build_batch


@dataclass
class TrainItem:
    """One labelled example as the training stages see it (the query has no demos)."""

    prompt_ids: list[int]
    gold_ids: list[int]
    icl_ids: list[int]                        # the base model's ICL answer tokens
    icl_acts: Optional[torch.Tensor] = None   # [layers, len(icl_ids), hidden], CPU
    soft_ids: Optional[torch.Tensor] = None   # [len(icl_ids), K] top-K token ids of the ICL distribution
    soft_probs: Optional[torch.Tensor] = None  # [len(icl_ids), K]


def _batch(items: list[TrainItem], answers: str, pad_id: int, device) -> TokenBatch:
    return build_batch([it.prompt_ids for it in items], [getattr(it, answers) for it in items], pad_id).to(device)


def _full(items: list[TrainItem], answers: str, width: int) -> bool:
    """Every row's answer fills the batch's answer width (always so for single-token labels):
    the answer mask is then all True, and masking can be skipped without changing a bit
    (and, on a GPU, without a boolean-mask index that waits for the device)."""
    return all(len(getattr(it, answers)) == width for it in items)


def ce_loss(model, items: list[TrainItem], pad_id: int, device) -> torch.Tensor:
    """Mean cross-entropy over the gold answer tokens."""
    batch = _batch(items, "gold_ids", pad_id, device)
    logits = answer_logits(model, batch).float()
    if _full(items, "gold_ids", batch.width):   # the same elements in the same order as the mask selects
        return F.cross_entropy(logits.flatten(0, 1), batch.answer_ids.flatten())
    return F.cross_entropy(logits[batch.answer_mask], batch.answer_ids[batch.answer_mask])


def teacher_acts(items: list[TrainItem], width: int, device, dtype) -> torch.Tensor:
    """ICL targets right-aligned to the batch's answer width: [B, layers, M, hidden]."""
    first = items[0].icl_acts
    if all(it.icl_acts.shape[1] == width for it in items):   # nothing to pad: one stack
        return torch.stack([it.icl_acts for it in items]).to(device=device, dtype=dtype)
    out = torch.zeros((len(items), first.shape[0], width, first.shape[-1]), dtype=dtype)
    for i, it in enumerate(items):
        m = it.icl_acts.shape[1]
        out[i, :, width - m:] = it.icl_acts.to(dtype)
    return out.to(device)


def ia2_loss(model, items: list[TrainItem], pad_id: int, device, capture: ActivationCapture) -> torch.Tensor:
    """IA2: MSE between the model's attention outputs (no demos, ICL answer
    teacher-forced) and the ICL targets, averaged over tokens and hidden units,
    summed over layers."""
    batch = _batch(items, "icl_ids", pad_id, device)
    capture.positions = batch.answer_positions
    model(**batch.model_inputs(), logits_to_keep=1, use_cache=False)
    student = capture.take().float()  # [B, layers, M, hidden]
    capture.positions = None
    target = teacher_acts(items, batch.width, device, torch.float32)
    sq = (student - target).pow(2)
    if _full(items, "icl_ids", batch.width):   # the mask would multiply by ones and count every cell
        return (sq.sum(dim=(0, 2, 3)) / (sq.shape[0] * sq.shape[2] * sq.shape[3])).sum()
    mask = batch.answer_mask[:, None, :, None].float()
    per_layer = (sq * mask).sum(dim=(0, 2, 3)) / (mask.sum() * student.shape[-1])
    return per_layer.sum()


def soft_loss(model, items: list[TrainItem], pad_id: int, device) -> torch.Tensor:
    """KL(ICL || model) on the ICL distribution's top-K tokens at each answer position."""
    batch = _batch(items, "icl_ids", pad_id, device)
    logp = torch.log_softmax(answer_logits(model, batch).float(), dim=-1)
    width, k = batch.width, items[0].soft_ids.shape[-1]
    ids = torch.zeros((len(items), width, k), dtype=torch.long)
    probs = torch.zeros((len(items), width, k))
    for i, it in enumerate(items):
        m = it.soft_ids.shape[0]
        ids[i, width - m:] = it.soft_ids
        probs[i, width - m:] = it.soft_probs
    ids, probs = ids.to(device), probs.to(device)
    probs = probs / probs.sum(-1, keepdim=True).clamp(min=1e-12)
    kl = (probs * (probs.clamp(min=1e-12).log() - logp.gather(-1, ids))).sum(-1)
    return kl[batch.answer_mask].mean()


def joint_loss(model, items, pad_id, device, capture, weight: float) -> torch.Tensor:
    """IA2+SFT: (1 - w) * MSE + w * CE."""
    return (1 - weight) * ia2_loss(model, items, pad_id, device, capture) + weight * ce_loss(model, items, pad_id, device)
