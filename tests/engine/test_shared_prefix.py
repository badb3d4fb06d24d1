"""Shared-prefix ICL computes what the full prompts compute: label scores (single-
and multi-token labels), greedy generations and the activations captured while
answering, on tiny random Llama, Qwen2, Qwen3 and GPT-2 models. The queries have
different lengths, so the suffixes after the shared demonstrations are padded,
and so do the demonstrations of the orderings (the prefixes run as one batch)."""
from dataclasses import replace

import pytest
import torch

from workers.engine.answers import answer_pass
from workers.engine.model_loading import load_model, load_tokenizer
from workers.engine.prefix import common_prefix_length
from workers.engine.scoring import score_label_set
from workers.engine.tasks import Example, Task, icl_prompt

from .tiny_models import FAMILIES

TASK = Task(name="t", kind="classification", input_template="Text:{x}\nLabel:", labels=["yes", "no"],
            examples=[Example("a cat", "yes"), Example("the pear", "no"), Example("my old drum", "no"),
                      Example("i got a new owl", "yes")])
QUERIES = ["a dog", "i saw the big red bus today", "my drum", "the owl and the cat", "pear"]


def prompts_and_groups():
    # orderings of different lengths, so the prefixes (computed together) are padded
    orders = [TASK.examples, TASK.examples[::-1], TASK.examples[1:]]
    prompts, groups = [], []
    for i, q in enumerate(QUERIES * 2):
        prompts.append(icl_prompt(TASK, orders[i % 3], TASK, q))
        groups.append(i % 3)
    return prompts, groups


@pytest.fixture(scope="module", params=FAMILIES)
def lm(request, tiny_model_dirs):
    # every tiny model uses the embedded world's tokenizer; transformers picks a
    # family-specific class for some directories, so take it from the Llama one
    model = load_model(str(tiny_model_dirs[request.param]), device="cpu")
    return replace(model, tokenizer=load_tokenizer(str(tiny_model_dirs["llama"])))


def test_groups_really_share_a_long_prefix(lm):
    prompts, groups = prompts_and_groups()
    rows = lm.tokenizer(prompts)["input_ids"]
    group0 = [r for r, g in zip(rows, groups) if g == 0]
    assert common_prefix_length(group0) > 0.6 * min(len(r) for r in group0)


@pytest.mark.parametrize("labels", [["yes", "no"], ["good", "good day", "sun moon star"]])
def test_label_scores_equal_full_prompts(lm, labels):
    prompts, groups = prompts_and_groups()
    full = score_label_set(lm.model, lm.tokenizer, prompts, labels, "cpu", batch_size=3)
    shared = score_label_set(lm.model, lm.tokenizer, prompts, labels, "cpu", batch_size=3, groups=groups)
    torch.testing.assert_close(shared, full, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("labels", [["yes", "no"], ["good", "good day", "sun moon star"], None])
def test_answers_and_activations_equal_full_prompts(lm, labels):
    prompts, groups = prompts_and_groups()
    kw = dict(want_acts=True, top_k=5, max_new_tokens=5, batch_size=4)
    full = answer_pass(lm, prompts, labels, **kw)
    shared = answer_pass(lm, prompts, labels, groups=groups, **kw)
    assert shared.answer_ids == full.answer_ids and shared.texts == full.texts
    if labels is not None:
        torch.testing.assert_close(shared.label_logprobs, full.label_logprobs, rtol=1e-4, atol=1e-4)
    for a, b in zip(shared.acts, full.acts):
        assert a.shape == b.shape and a.shape[0] == 3
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    for a, b in zip(shared.soft_probs, full.soft_probs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_mixed_groups_keep_prompt_order(lm):
    """Rows without a group are batched whole; results come back in prompt order."""
    prompts, groups = prompts_and_groups()
    mixed = [None, *groups[1:4], None, *groups[5:]]
    full = answer_pass(lm, prompts, ["yes", "no"], want_acts=False, batch_size=4)
    shared = answer_pass(lm, prompts, ["yes", "no"], want_acts=False, batch_size=4, groups=mixed)
    torch.testing.assert_close(shared.label_logprobs, full.label_logprobs, rtol=1e-4, atol=1e-4)
