"""Activation capture finds every layer's self-attention on Llama, Qwen2, Qwen3
and GPT-2 models, and records exactly what a plain forward hook sees."""
import pytest
import torch

from workers.engine.architecture import attention_modules
from workers.engine.capture import ActivationCapture
from workers.engine.model_loading import load_model
from workers.engine.sequences import build_batch, encode_prompts

from .tiny_models import FAMILIES

PROMPTS = ["Text:a cat\nLabel:yes\n\nText:the pear\nLabel:", "Text:my drum\nLabel:"]


@pytest.mark.parametrize("family", FAMILIES)
def test_capture_matches_plain_hook_on_each_family(tiny_model_dirs, family):
    lm = load_model(str(tiny_model_dirs[family]), device="cpu")
    modules = attention_modules(lm.model)
    assert len(modules) == lm.model.config.num_hidden_layers == 3
    prompt_ids = encode_prompts(lm.tokenizer, PROMPTS)
    answers = [[lm.tokenizer.convert_tokens_to_ids("yes")], [lm.tokenizer.convert_tokens_to_ids("no")] * 2]
    batch = build_batch(prompt_ids, answers, lm.tokenizer.pad_token_id)
    with ActivationCapture(lm.model) as cap:
        cap.positions = batch.answer_positions
        lm.model(**batch.model_inputs())
        captured = cap.take()  # [B, layers, M, hidden]
    assert captured.shape[:3] == (2, 3, 2)
    # reference: each prompt alone (no padding), plain hooks keeping whole sequences
    for row, (p, a) in enumerate(zip(prompt_ids, answers)):
        seen = []
        handles = [m.register_forward_hook(lambda _m, _i, out: seen.append(out[0].detach())) for m in modules]
        ids = torch.tensor([p + a[:-1]])
        lm.model(input_ids=ids)
        for h in handles:
            h.remove()
        m = len(a)
        for layer in range(3):
            expected = seen[layer][0, -m:]
            got = captured[row, layer, 2 - m:]
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
