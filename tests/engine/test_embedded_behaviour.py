"""Real behaviour of the shipped embedded model and of the three methods on it:
ICL learns held-out tasks from demonstrations, SFT fits its training examples,
IA2 lowers its loss and leaves the model's activations closer to ICL's than
SFT does, and the same seed gives the same numbers."""
import pytest

from workers.engine.adapters import attach_adapter, detach_adapter
from workers.engine.config import load_config
from workers.engine.evaluation import evaluate_without_demos
from workers.engine.heldout_eval import heldout_icl_curve
from workers.engine.icl_work import clear_memory_cache, get_icl_work
from workers.engine.stage_cache import clear_memory_cache as clear_stage_cache
from workers.engine.progress import Reporter
from workers.engine.runner import execute_run, resolve_tasks, run_compare
from workers.engine.sampling import draw_split
from workers.engine.plan import RunKey
from workers.engine.training import StageTrainer

CONFIG = {"model": "embedded", "task": "vehicle-tool-clothing", "n": [8], "seeds": [0], "eval_size": 120,
          "similarity_size": 40}


def test_held_out_icl_curve(embedded):
    """20 held-out tasks x 100 queries: 8-shot well above chance, 0-shot at chance, rising with k."""
    curve = heldout_icl_curve(lm=embedded, n_tasks=20, n_queries=100)
    acc = {k: curve[str(k)]["accuracy"] for k in (0, 1, 2, 4, 8, 16)}
    chance = curve["0"]["chance"]
    assert abs(acc[0] - chance) <= 0.10, acc
    assert acc[8] >= chance + 0.25, acc
    ks = sorted(acc)
    assert all(acc[b] >= acc[a] - 0.01 for a, b in zip(ks, ks[1:])), acc
    assert acc[16] > acc[1] > acc[0], acc


@pytest.fixture(scope="module")
def comparison():
    return run_compare({**CONFIG, "methods": ["base", "icl", "sft", "ia2", "ia2-sft"]})


def by_method(results):
    return {r["method"]: r for r in results["runs"] if r["eval_task"] == "vehicle-tool-clothing"}


def test_icl_beats_zero_shot_on_a_held_out_builtin_task(comparison):
    runs = by_method(comparison)
    assert runs["icl"]["accuracy"] >= runs["base"]["accuracy"] + 0.2, (runs["icl"]["accuracy"], runs["base"]["accuracy"])


def test_ia2_is_closer_to_icl_activations_than_sft(comparison):
    runs = by_method(comparison)
    assert runs["ia2"]["mean_similarity"] > runs["sft"]["mean_similarity"] + 0.05
    assert runs["ia2"]["mean_similarity"] > runs["base"]["mean_similarity"]


def test_sft_fits_its_training_examples_and_ia2_lowers_its_loss(embedded):
    cfg = load_config(CONFIG)
    task, evals = resolve_tasks(cfg)
    work, _ = get_icl_work(embedded, cfg, task, evals, 8, 0, Reporter())
    split = draw_split(task, 8, 0, cfg.eval_size)
    train_inputs, train_golds = [e.input for e in split.train], [e.output for e in split.train]
    peft_model = attach_adapter(embedded.model, cfg.adapter, 0)
    try:
        trainer = StageTrainer(peft_model, cfg.training, embedded.tokenizer.pad_token_id, "cpu", 0, Reporter())
        ia2 = trainer.run("ia2", work.train_items, work.dev_items)
        first = ia2.history[0]["dev_loss"]
        assert ia2.best_dev_loss < 0.8 * first, (first, ia2.best_dev_loss)
        train_losses = [h["loss"] for h in ia2.history if "loss" in h]
        assert min(train_losses[-3:]) < train_losses[0]
        sft = trainer.run("sft", work.train_items, work.dev_items)
        fitted = evaluate_without_demos(embedded, peft_model, task, train_inputs, train_golds, cfg, Reporter())
        assert fitted["accuracy"] >= 0.85, fitted["accuracy"]
        assert sft.best_dev_loss < sft.history[0]["dev_loss"]
    finally:
        embedded.model = detach_adapter(peft_model)


def test_same_seed_gives_identical_metrics():
    key = RunKey("ia2-sft", 4, 1)
    cfg = {**CONFIG, "eval_size": 40, "similarity_size": 10}
    clear_memory_cache()
    clear_stage_cache()
    a = execute_run(cfg, key)
    clear_memory_cache()
    clear_stage_cache()   # trained again, not reused
    b = execute_run(cfg, key)
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("timings", "icl_work_reused")} for r in rs]
    assert strip(a) == strip(b)
