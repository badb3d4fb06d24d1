"""The training losses' shortcuts change no bit: when every answer fills the batch's
answer width, cross-entropy, the IA2 MSE and the padded targets equal the masked
computations exactly; batches with shorter answers still mask them; a step's loss
read back once equals adding each micro-batch's loss as a Python float; and only
the stages that read activations attach hooks."""
import pytest
import torch
import torch.nn.functional as F

from workers.engine.adapters import attach_adapter, detach_adapter
from workers.engine.architecture import attention_modules
from workers.engine.capture import ActivationCapture
from workers.engine.losses import TrainItem, _batch, ce_loss, ia2_loss, joint_loss, soft_loss, teacher_acts
from workers.engine.model_loading import load_model
from workers.engine.progress import Reporter
from workers.engine.sequences import answer_logits, encode_prompts
from workers.engine.training_settings import AdapterSettings, TrainingSettings
from workers.engine.training import StageTrainer

PROMPTS = ["Text:a cat\nLabel:", "Text:the old pear tree\nLabel:", "Text:my drum\nLabel:", "Text:x\nLabel:"]


@pytest.fixture(scope="module")
def lm(tiny_model_dirs):
    lm = load_model(str(tiny_model_dirs["llama"]), device="cpu")
    lm.model = attach_adapter(lm.model, AdapterSettings(), 0)
    with torch.no_grad():   # a non-zero update, so that the adapter path takes part
        for n, p in lm.model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)
    yield lm
    lm.model = detach_adapter(lm.model)


def items(lm, answer_lengths):
    torch.manual_seed(1)
    prompts = encode_prompts(lm.tokenizer, PROMPTS[:len(answer_lengths)])
    layers, hidden = lm.model.config.num_hidden_layers, lm.model.config.hidden_size
    return [TrainItem(p, list(range(40, 40 + m)), list(range(50, 50 + m)), torch.randn(layers, m, hidden))
            for p, m in zip(prompts, answer_lengths)]


def masked_ce(model, its, pad):
    batch = _batch(its, "gold_ids", pad, "cpu")
    logits = answer_logits(model, batch).float()
    return F.cross_entropy(logits[batch.answer_mask], batch.answer_ids[batch.answer_mask])


def masked_ia2(model, its, pad):
    batch = _batch(its, "icl_ids", pad, "cpu")
    with ActivationCapture(model, detach=False) as cap:
        cap.positions = batch.answer_positions
        model(**batch.model_inputs(), logits_to_keep=1, use_cache=False)
        student = cap.take().float()
    first = its[0].icl_acts
    target = torch.zeros((len(its), first.shape[0], batch.width, first.shape[-1]))
    for i, it in enumerate(its):
        target[i, :, batch.width - it.icl_acts.shape[1]:] = it.icl_acts
    mask = batch.answer_mask[:, None, :, None].float()
    sq = (student - target).pow(2) * mask
    return (sq.sum(dim=(0, 2, 3)) / (mask.sum() * student.shape[-1])).sum()


@pytest.mark.parametrize("lengths", [[1, 1, 1, 1], [2, 2, 2]])
def test_full_width_batches_give_exactly_the_masked_losses(lm, lengths):
    its, pad = items(lm, lengths), lm.tokenizer.pad_token_id
    with torch.no_grad():
        assert torch.equal(ce_loss(lm.model, its, pad, "cpu"), masked_ce(lm.model, its, pad))
        with ActivationCapture(lm.model, detach=False) as cap:
            fast = ia2_loss(lm.model, its, pad, "cpu", cap)
        assert torch.equal(fast, masked_ia2(lm.model, its, pad))
    width = lengths[0]
    padded = torch.zeros((len(its), its[0].icl_acts.shape[0], width, its[0].icl_acts.shape[-1]))
    for i, it in enumerate(its):
        padded[i] = it.icl_acts
    assert torch.equal(teacher_acts(its, width, "cpu", torch.float32), padded)


def test_shorter_answers_are_still_masked(lm):
    its, pad = items(lm, [1, 3, 2]), lm.tokenizer.pad_token_id
    with torch.no_grad():
        assert torch.equal(ce_loss(lm.model, its, pad, "cpu"), masked_ce(lm.model, its, pad))
        # each answer token counts once: the mean of the rows' own token losses
        per_token = []
        for it in its:
            one = _batch([it], "gold_ids", pad, "cpu")
            logits = answer_logits(lm.model, one)[0]
            per_token += F.cross_entropy(logits, one.answer_ids[0], reduction="none").tolist()
        assert ce_loss(lm.model, its, pad, "cpu").item() == pytest.approx(sum(per_token) / len(per_token), rel=1e-5)
        with ActivationCapture(lm.model, detach=False) as cap:
            got = ia2_loss(lm.model, its, pad, "cpu", cap)
        assert torch.equal(got, masked_ia2(lm.model, its, pad))
        shifted = [TrainItem(it.prompt_ids, it.gold_ids, it.icl_ids, it.icl_acts + 1) for it in its]
        with ActivationCapture(lm.model, detach=False) as cap:
            assert ia2_loss(lm.model, shifted, pad, "cpu", cap) != got   # the targets do count


def test_a_steps_loss_is_the_sum_of_its_micro_batches(lm):
    its, pad = items(lm, [1, 1, 1, 1]), lm.tokenizer.pad_token_id
    trainer = StageTrainer(lm.model, TrainingSettings(), pad, "cpu", 0, Reporter())
    with torch.no_grad():
        expected = 0.0
        for m in range(0, 4, 2):
            expected += float(trainer.loss("sft", its[m:m + 2]) * (2 / 4))
    opt = torch.optim.Adam([p for p in lm.model.parameters() if p.requires_grad], lr=0.0)
    assert trainer.step("sft", its, opt, micro=2) == expected


def test_only_stages_that_read_activations_attach_hooks(lm):
    trainer = StageTrainer(lm.model, TrainingSettings(), lm.tokenizer.pad_token_id, "cpu", 0, Reporter())
    modules = attention_modules(lm.model)
    for stage, hooked in (("sft", False), ("soft-sft", False), ("ia2", True), ("ia2+sft", True)):
        with trainer.hooks(stage):
            assert all(bool(m._forward_hooks) == hooked for m in modules), stage
    assert not any(m._forward_hooks for m in modules)


def test_the_joint_loss_weighs_mse_by_one_minus_w_and_ce_by_w(lm):
    """IA2+SFT is (1 - w)·MSE + w·CE (loss_definitions says so, and the charts): w = 0 is IA2
    alone, w = 1 SFT alone, and w = 0.25 keeps three quarters of the MSE."""
    its, pad = items(lm, [1, 2, 2]), lm.tokenizer.pad_token_id
    with torch.no_grad():
        ce = ce_loss(lm.model, its, pad, "cpu").item()
        with ActivationCapture(lm.model, detach=False) as cap:
            mse = ia2_loss(lm.model, its, pad, "cpu", cap).item()
            joint = {w: joint_loss(lm.model, its, pad, "cpu", cap, w).item() for w in (0.0, 0.25, 1.0)}
    assert abs(mse - ce) > 0.1, (mse, ce)   # else swapping the weights would go unseen
    assert joint[0.0] == pytest.approx(mse, rel=1e-6)
    assert joint[1.0] == pytest.approx(ce, rel=1e-6)
    assert joint[0.25] == pytest.approx(0.75 * mse + 0.25 * ce, rel=1e-6)


def with_soft_targets(its, ids, probs):
    return [TrainItem(it.prompt_ids, it.gold_ids, it.icl_ids, it.icl_acts, i, p) for it, i, p in zip(its, ids, probs)]


def kl_by_hand(model, its, pad):
    """KL(ICL top-K || model) of each answer token, one example at a time, averaged over tokens."""
    per_token = []
    for it in its:
        logq = torch.log_softmax(answer_logits(model, _batch([it], "icl_ids", pad, "cpu"))[0].float(), dim=-1)
        for t in range(len(it.icl_ids)):
            p = it.soft_probs[t] / it.soft_probs[t].sum()
            per_token.append(float((p * (p.log() - logq[t, it.soft_ids[t]])).sum()))
    return sum(per_token) / len(per_token)


def test_soft_sft_is_the_kl_from_the_icl_top_k_to_the_model(lm):
    """The soft-label loss is KL(ICL || model) over the top-K tokens (renormalised), per answer
    token, padded positions left out: never negative, zero when the model already predicts the
    ICL distribution, and equal to the KL computed example by example."""
    its, pad = items(lm, [1, 3, 2]), lm.tokenizer.pad_token_id
    gen = torch.Generator().manual_seed(2)
    vocab = lm.model.config.vocab_size
    ids = [torch.stack([torch.randperm(vocab, generator=gen)[:4] for _ in it.icl_ids]) for it in its]
    # a top-K of the ICL distribution sums to less than 1: it is renormalised over the K tokens
    probs = [torch.rand((len(it.icl_ids), 4), generator=gen) * 0.2 + 0.01 for it in its]
    soft = with_soft_targets(its, ids, probs)
    with torch.no_grad():
        loss = soft_loss(lm.model, soft, pad, "cpu").item()
        assert loss > 0
        assert loss == pytest.approx(kl_by_hand(lm.model, soft, pad), rel=1e-4)
        alone = soft[1:2]   # a batch of one
        assert soft_loss(lm.model, alone, pad, "cpu").item() == pytest.approx(kl_by_hand(lm.model, alone, pad),
                                                                              rel=1e-4)
        # the model's own full distribution as the target: nothing to learn
        own = [torch.softmax(answer_logits(lm.model, _batch([it], "icl_ids", pad, "cpu"))[0].float(), dim=-1)
               for it in its]
        full = with_soft_targets(its, [torch.arange(vocab).expand(len(it.icl_ids), vocab) for it in its], own)
        assert abs(soft_loss(lm.model, full, pad, "cpu").item()) < 1e-4


def test_soft_sft_stays_finite_with_zero_probabilities_and_padded_answers(lm):
    """A top-K entry of probability 0 adds nothing (0·log 0 = 0), and the padded positions of
    shorter answers (no target at all) neither turn the loss nor its gradients into NaN."""
    its, pad = items(lm, [1, 3]), lm.tokenizer.pad_token_id
    ids = [torch.tensor([[5, 6, 7]] * len(it.icl_ids)) for it in its]
    probs = [torch.tensor([[0.5, 0.5, 0.0]] * len(it.icl_ids)) for it in its]
    with_zero = with_soft_targets(its, ids, probs)
    without = with_soft_targets(its, [i[:, :2] for i in ids], [q[:, :2] for q in probs])
    lm.model.zero_grad()
    loss = soft_loss(lm.model, with_zero, pad, "cpu")
    loss.backward()
    grads = [q.grad for q in lm.model.parameters() if q.requires_grad]
    assert torch.isfinite(loss) and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    lm.model.zero_grad()
    with torch.no_grad():
        assert loss.item() == pytest.approx(soft_loss(lm.model, without, pad, "cpu").item(), rel=1e-6)


def test_teacher_targets_come_in_the_asked_dtype_right_aligned_to_any_width():
    """ICL activations stored in half precision become float32 targets, whether the batch needs
    padding or not; a lone item and a width wider than every answer are padded on the left."""
    torch.manual_seed(0)
    acts = [torch.randn(2, m, 4).half() for m in (2, 2)]
    its = [TrainItem([1], [2] * a.shape[1], [3] * a.shape[1], a) for a in acts]
    stacked = teacher_acts(its, 2, "cpu", torch.float32)
    assert stacked.dtype == torch.float32 and torch.equal(stacked, torch.stack(acts).float())
    wide = teacher_acts(its, 3, "cpu", torch.float32)
    assert wide.dtype == torch.float32 and wide.shape == (2, 2, 3, 4)
    assert torch.equal(wide[:, :, 1:], stacked) and not wide[:, :, 0].any()
    lone = teacher_acts(its[:1], 3, "cpu", torch.float32)
    assert lone.dtype == torch.float32 and torch.equal(lone, wide[:1])
    assert teacher_acts(its, 3, "cpu", torch.float64).dtype == torch.float64
