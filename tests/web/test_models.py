"""Model helpers: the engine task dict, run snapshots, config building, prompt preview."""
import pytest

from webapp.lab.models import Example, Run
from webapp.lab.services.config import build_config
from webapp.lab.services.prompts import preview

from .conftest import make_task


@pytest.mark.django_db
def test_task_to_engine_dict_splits_pool_and_eval(user):
    task = make_task(user, n=4)
    Example.objects.create(task=task, position=99, split=Example.EVAL, input="held", output="positive")
    d = task.to_engine_dict()
    assert d["kind"] == "classification" and d["labels"] == ["positive", "negative"]
    assert len(d["examples"]) == 4 and d["eval_examples"] == [{"input": "held", "output": "positive"}]
    assert "answer_parser" not in d


@pytest.mark.django_db
def test_generation_task_dict_has_parser(user):
    task = make_task(user, name="math", kind="generation", labels=("4", "5"), answer_parser="gsm8k")
    d = task.to_engine_dict()
    assert d["answer_parser"] == "gsm8k" and "labels" not in d


@pytest.mark.django_db
def test_build_config_matches_contract(user):
    task = make_task(user)
    cfg = build_config(model_name="embedded", train_task=task, eval_tasks=[], methods=["icl", "ia2-sft"],
                       n_values=[4, 8], seeds=2, icl_demos=None, eval_size=50, adapter_type="lora", lora_r=8,
                       lora_alpha=8, target_modules=["q_proj", "k_proj", "o_proj"])
    assert cfg["n"] == [4, 8] and cfg["seeds"] == [0, 1] and cfg["methods"] == ["icl", "ia2-sft"]
    assert cfg["eval_tasks"][0]["name"] == "sentiment" and cfg["task"]["name"] == "sentiment"
    assert cfg["adapter"] == {"type": "lora", "r": 8, "alpha": 8, "target_modules": ["q_proj", "k_proj", "o_proj"]}
    assert "icl_demos" not in cfg


@pytest.mark.django_db
def test_run_snapshot_and_progress(user):
    task = make_task(user)
    from webapp.lab.models import Experiment

    exp = Experiment.objects.create(owner=user, train_task=task, methods=["sft"], n_values=[4])
    run = Run.objects.create(experiment=exp, method="ia2-sft", n=4, seed=0, step=5, total=20)
    snap = run.snapshot()
    assert snap["method_label"] == "IA2->SFT" and snap["progress"] == 0.25 and snap["state"] == "queued"


def test_prompt_preview_matches_paper_format():
    pool = [{"input": "a", "output": "1"}, {"input": "b", "output": "0"}, {"input": "c", "output": "1"}]
    out = preview("Text:{x}\nLabel:", pool, index=1, k=2)
    assert out["icl"] == "Text:a\nLabel:1\n\nText:c\nLabel:1\n\nText:b\nLabel:"
    assert out["sft"] == "Text:b\nLabel:0"


def test_preview_matches_engine_when_present():
    from workers.engine import tasks
    t = tasks.get_task({"name": "t", "kind": "classification", "input_template": "Q:{x}\nA:", "labels": ["1", "0"],
                        "examples": [{"input": "a", "output": "1"}, {"input": "b", "output": "0"}]})
    demos = [t.examples[0]]
    assert tasks.icl_prompt(t, demos, t, "b") == preview("Q:{x}\nA:", [{"input": "a", "output": "1"},
                                                                         {"input": "b", "output": "0"}], 1, 1)["icl"]
