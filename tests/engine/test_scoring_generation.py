"""Label-set scoring sums the log-probabilities of whole label sequences (with the
KV cache for multi-token labels) and greedy generation with the KV cache gives
the same tokens as re-running the full sequence each step."""
import torch

from workers.engine.generation import greedy_generate
from workers.engine.model_loading import load_model
from workers.engine.scoring import score_label_set

PROMPTS = ["Text:a cat\nLabel:yes\n\nText:the pear\nLabel:", "Text:my drum\nLabel:", "Text:i got a new owl\nLabel:"]
LABELS = ["good", "good day", "sun moon star"]   # 1, 2 and 3 tokens; a shared first token


def brute_force(model, tok, prompt, label):
    p = tok(prompt)["input_ids"]
    lab = tok(label, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([p + lab])
    logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    return sum(float(logp[len(p) - 1 + j, t]) for j, t in enumerate(lab))


def test_multi_token_label_scores_equal_full_sequence_log_probs(tiny_model_dirs):
    lm = load_model(str(tiny_model_dirs["llama"]), device="cpu")
    got = score_label_set(lm.model, lm.tokenizer, PROMPTS, LABELS, "cpu", batch_size=2)
    assert got.shape == (3, 3)
    for i, p in enumerate(PROMPTS):
        for j, label in enumerate(LABELS):
            assert abs(float(got[i, j]) - brute_force(lm.model, lm.tokenizer, p, label)) < 1e-4


def test_greedy_generation_with_cache_equals_full_reruns(tiny_model_dirs):
    for family in ("qwen3", "gpt2"):
        lm = load_model(str(tiny_model_dirs[family]), device="cpu")
        ids, _texts, _ = greedy_generate(lm.model, lm.tokenizer, PROMPTS, "cpu", max_new_tokens=8)
        for prompt, gen in zip(PROMPTS, ids):
            seq = lm.tokenizer(prompt)["input_ids"]
            expected = []
            for _ in range(len(gen)):
                nxt = int(lm.model(input_ids=torch.tensor([seq])).logits[0, -1].argmax())
                expected.append(nxt)
                seq.append(nxt)
            assert gen == expected
