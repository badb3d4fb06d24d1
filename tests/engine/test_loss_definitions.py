"""The loss definitions the charts are labelled from (loss_definitions.LOSSES) say what
losses.py computes: one entry per training stage, the joint loss is (1−w)·MSE + w·CE and
the soft-label SFT loss is the KL from the ICL top-K distribution, both checked against
the maths on a tiny model."""
import pytest
import torch
import torch.nn.functional as F

from workers.engine.adapters import attach_adapter, detach_adapter
from workers.engine.capture import ActivationCapture
from workers.engine.config import METHOD_STAGES
from workers.engine.loss_definitions import LOSSES, loss_definitions
from workers.engine.losses import TrainItem, _batch, ce_loss, ia2_loss, joint_loss, soft_loss
from workers.engine.model_loading import load_model
from workers.engine.sequences import answer_logits, encode_prompts
from workers.engine.training import STAGE_LOSSES
from workers.engine.training_settings import AdapterSettings

PROMPTS = ["Text:a cat\nLabel:", "Text:the old pear tree\nLabel:", "Text:my drum\nLabel:"]


@pytest.fixture(scope="module")
def lm(tiny_model_dirs):
    lm = load_model(str(tiny_model_dirs["llama"]), device="cpu")
    lm.model = attach_adapter(lm.model, AdapterSettings(), 0)
    yield lm
    lm.model = detach_adapter(lm.model)


def items(lm, k=4):
    torch.manual_seed(3)
    layers, hidden = lm.model.config.num_hidden_layers, lm.model.config.hidden_size
    out = []
    for p in encode_prompts(lm.tokenizer, PROMPTS):
        probs = torch.rand(1, k)
        out.append(TrainItem(p, [40], [50], torch.randn(layers, 1, hidden), soft_ids=torch.randint(0, 60, (1, k)),
                             soft_probs=probs / probs.sum()))
    return out


def test_every_training_stage_has_one_definition():
    stages = {s for ss in METHOD_STAGES.values() for s in ss}
    assert set(LOSSES) == stages and set(STAGE_LOSSES) == stages
    rows = loss_definitions()
    assert [r["key"] for r in rows] == list(LOSSES)
    assert len({r["panel"] for r in rows}) == len(rows)  # one chart each
    assert all(r["label"] and r["formula"] and r["unit"] for r in rows)


def test_the_joint_loss_is_what_its_label_says(lm):
    assert LOSSES["ia2+sft"].formula.startswith("(1−w)·MSE + w·CE")
    its, pad, w = items(lm), lm.tokenizer.pad_token_id, 0.3
    with torch.no_grad(), ActivationCapture(lm.model, detach=False) as cap:
        joint = joint_loss(lm.model, its, pad, "cpu", cap, w)
        mse, ce = ia2_loss(lm.model, its, pad, "cpu", cap), ce_loss(lm.model, its, pad, "cpu")
    assert float(joint) == pytest.approx(float((1 - w) * mse + w * ce), rel=1e-6)
    assert float(mse) != pytest.approx(float(ce))  # the check can tell the two terms apart


def test_the_soft_label_loss_is_the_kl_from_the_icl_top_k(lm):
    assert "KL" in LOSSES["soft-sft"].label and "cross-entropy" not in LOSSES["soft-sft"].label.lower()
    its, pad = items(lm), lm.tokenizer.pad_token_id
    with torch.no_grad():
        got = float(soft_loss(lm.model, its, pad, "cpu"))
        logq = torch.log_softmax(answer_logits(lm.model, _batch(its, "icl_ids", pad, "cpu")).float(), dim=-1)
    ids = torch.stack([it.soft_ids for it in its])        # [B, 1, K]
    p = torch.stack([it.soft_probs for it in its])
    expected = F.kl_div(logq.gather(-1, ids), p, reduction="none").sum(-1).mean()   # sum p (log p - log q)
    assert got == pytest.approx(float(expected), rel=1e-5) and got > 0
