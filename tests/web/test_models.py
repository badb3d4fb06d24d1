"""Model helpers: the engine task dict and task, run snapshots, config building."""
import pytest

from webapp.lab.models import Example, Run
from webapp.lab.services.config import build_config

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


@pytest.mark.django_db
def test_to_engine_task_keeps_pool_eval_split_and_works_for_unfinished_tasks(user):
    """The engine's Task for a DB task (used by the preview and the pool rule), also for a
    task the engine's checks would still reject (one label, an output off the label set)."""
    task = make_task(user, n=3, labels=("positive",))
    Example.objects.create(task=task, position=99, split=Example.EVAL, input="held", output="maybe")
    et = task.to_engine_task()
    assert [e.input for e in et.examples] == ["example 0", "example 1", "example 2"]
    assert [(e.input, e.output) for e in et.eval_examples] == [("held", "maybe")]
    assert et.labels == ["positive"] and et.query("z") == "Text:z\nLabel:"
