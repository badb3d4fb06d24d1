"""Trained stages are reused across methods and give what training them again gives;
adapters are saved in peft's format and reload to the run's predictions; LoRA
evaluation folded into the weights equals the adapter path; a stage that never
beats its starting weights says so; the worker's caches stay bounded."""
import json
from pathlib import Path

import pytest
import torch

from workers.engine import icl_work, stage_cache
from workers.engine.adapters import attach_adapter, detach_adapter, fused_for_eval, load_trainable_state
from workers.engine.config import load_config
from workers.engine.evaluation import evaluate_without_demos
from workers.engine.lru import LRU
from workers.engine.plan import RunKey
from workers.engine.progress import Reporter
from workers.engine.runner import execute_run, resolve_tasks

CONFIG = {"model": "embedded", "task": "vehicle-tool-clothing", "n": [4], "seeds": [0], "eval_size": 24,
          "similarity_size": 8, "training": {"max_epochs": 4, "patience": 2, "lr": [1e-2, 3e-2]}}


def fresh():
    icl_work.clear_memory_cache()
    stage_cache.clear_memory_cache()


def comparable(results):
    drop = {"timings", "icl_work_reused", "artifacts", "training_stages"}
    return [{k: v for k, v in r.items() if k not in drop} for r in results]


@pytest.fixture(scope="module")
def reused_and_retrained(tmp_path_factory):
    shared, alone = tmp_path_factory.mktemp("shared"), tmp_path_factory.mktemp("alone")
    fresh()
    execute_run(CONFIG, RunKey("ia2", 4, 0), cache_dir=shared)
    fresh()   # the IA2 stage now comes from the disk cache, as in another worker
    events = []
    reused = execute_run(CONFIG, RunKey("ia2-sft", 4, 0), on_progress=events.append, cache_dir=shared)
    fresh()
    retrained = execute_run(CONFIG, RunKey("ia2-sft", 4, 0), cache_dir=alone)
    fresh()
    return reused, retrained, events


def test_ia2_sft_reuses_the_ia2_stage_and_equals_training_it_again(reused_and_retrained):
    reused, retrained, events = reused_and_retrained
    assert [s["reused"] for s in reused[0]["training_stages"]] == [True, False]
    assert [s["reused"] for s in retrained[0]["training_stages"]] == [False, False]
    assert any("reused the stage" in e.message for e in events)
    assert comparable(reused) == comparable(retrained)
    assert reused[0]["artifacts"][0]["sha256"] == retrained[0]["artifacts"][0]["sha256"]


def test_saved_adapter_reloads_with_peft_to_the_runs_predictions(reused_and_retrained, embedded):
    from peft import PeftModel

    result = reused_and_retrained[1][0]
    folder = Path(result["artifacts"][0]["path"])
    assert json.loads((folder / "adapter_config.json").read_text())["peft_type"] == "LORA"
    cfg = load_config(CONFIG)
    task, _ = resolve_tasks(cfg)
    inputs = [p["input"] for p in result["predictions"]]
    golds = [p["gold"] for p in result["predictions"]]
    base = embedded.model
    peft_model = PeftModel.from_pretrained(base, str(folder))
    try:
        again = evaluate_without_demos(embedded, peft_model, task, inputs, golds, cfg, Reporter())
    finally:
        embedded.model = detach_adapter(peft_model)
    assert [p["predicted"] for p in again["predictions"]] == [p["predicted"] for p in result["predictions"]]
    for a, b in zip(again["predictions"], result["predictions"]):
        for label, prob in b["label_probs"].items():
            assert abs(a["label_probs"][label] - prob) < 1e-5


def test_fused_lora_evaluation_equals_the_adapter_path(embedded):
    cfg = load_config(CONFIG)
    task, _ = resolve_tasks(cfg)
    inputs = [e.input for e in task.examples[:16]]
    golds = [e.output for e in task.examples[:16]]
    before = {n: p.clone() for n, p in embedded.model.named_parameters()}
    peft_model = attach_adapter(embedded.model, cfg.adapter, 3)
    try:
        gen = torch.Generator().manual_seed(0)
        state = {n: torch.randn(p.shape, generator=gen) * 0.2 for n, p in peft_model.named_parameters()
                 if p.requires_grad}
        load_trainable_state(peft_model, state)
        plain = evaluate_without_demos(embedded, peft_model, task, inputs, golds, cfg, Reporter())
        with fused_for_eval(peft_model) as fused:
            folded = evaluate_without_demos(embedded, fused, task, inputs, golds, cfg, Reporter())
        after_exit = evaluate_without_demos(embedded, peft_model, task, inputs, golds, cfg, Reporter())
    finally:
        embedded.model = detach_adapter(peft_model)
    assert plain["nll"] > 0 and plain["predictions"] != []
    for a, b, c in zip(plain["predictions"], folded["predictions"], after_exit["predictions"]):
        for label in task.labels:
            assert abs(a["label_probs"][label] - b["label_probs"][label]) < 1e-5
            assert a["label_probs"][label] == c["label_probs"][label]
    for n, p in embedded.model.named_parameters():   # the shared base weights are untouched
        assert torch.equal(p, before[n]), n


def test_a_stage_that_never_improves_says_so():
    fresh()
    events = []
    cfg = {**CONFIG, "training": {"max_epochs": 2, "patience": 1, "lr": 1e-12}}
    result = execute_run(cfg, RunKey("sft", 4, 0), on_progress=events.append)[0]
    fresh()
    (stage,) = result["training_stages"]
    assert stage["improved"] is False and stage["best_epoch"] == 0
    assert any("starting weights were kept" in e.message for e in events)


def test_lru_bounds_the_worker_caches():
    lru = LRU(2)
    for k in "abc":
        lru.put(k, k.upper())
    assert "a" not in lru and len(lru) == 2
    lru.get("b")
    lru.put("d", "D")
    assert "b" in lru and "c" not in lru
    assert icl_work._memory.capacity <= 8 and stage_cache._memory.capacity <= 16


def test_a_stage_key_covers_every_setting_its_weights_depend_on():
    base = dict(data_key="d", adapter={"type": "lora", "r": 8}, training={"lr": 1e-3, "max_epochs": 4},
                stages=["ia2"], device="cpu", dtype="torch.float32")
    key = stage_cache.stage_key(**base)
    assert stage_cache.stage_key(**{**base, "training": {"max_epochs": 4, "lr": 1e-3}}) == key  # order-free
    for field, other in (("data_key", "e"), ("adapter", {"type": "lora", "r": 16}),
                         ("training", {"lr": 3e-3, "max_epochs": 4}), ("training", {"lr": 1e-3, "max_epochs": 5}),
                         ("stages", ["ia2", "sft"]), ("device", "cuda:0"), ("dtype", "torch.bfloat16")):
        assert stage_cache.stage_key(**{**base, field: other}) != key, field


def test_other_training_settings_never_reuse_a_stored_stage(tmp_path):
    """Two experiments that differ only in their training settings share the cache folder but
    not their trained weights: the second trains its stage again (stale weights would otherwise
    be evaluated under the new settings)."""
    cfg = {**CONFIG, "eval_size": 8, "similarity_size": 4, "training": {"max_epochs": 1, "patience": 1, "lr": 1e-2}}
    fresh()
    first = execute_run(cfg, RunKey("sft", 4, 0), cache_dir=tmp_path)[0]
    fresh()
    again = execute_run(cfg, RunKey("sft", 4, 0), cache_dir=tmp_path)[0]
    fresh()
    other_lr = {**cfg, "training": {**cfg["training"], "lr": 3e-2}}
    other = execute_run(other_lr, RunKey("sft", 4, 0), cache_dir=tmp_path)[0]
    fresh()
    assert [s["reused"] for s in first["training_stages"]] == [False]
    assert [s["reused"] for s in again["training_stages"]] == [True]
    assert [s["reused"] for s in other["training_stages"]] == [False]
