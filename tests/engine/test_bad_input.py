"""Every bad input gives one clear error that names the field and the fix."""
import json
import subprocess
import sys

import pytest

from workers.engine.config import parse_config
from workers.engine.errors import ConfigError, ModelLoadError
from workers.engine.model_loading import load_tokenizer
from workers.engine.tasks import get_task, task_from_dict
from workers.engine.validation import check_config

GOOD_TASK = {"name": "t", "kind": "classification", "input_template": "Text:{x}\nLabel:", "labels": ["yes", "no"],
             "examples": [{"input": f"a cat {i}", "output": "yes" if i % 2 else "no"} for i in range(12)]}


def fields(problems):
    return [f for f, _ in problems]


@pytest.mark.parametrize("change, field, words", [
    ({"labels": []}, "task.labels", "at least two labels"),
    ({"labels": ["yes", "yes"]}, "task.labels", "distinct"),
    ({"input_template": "Text:\nLabel:"}, "task.input_template", "{x}"),
    ({"kind": "regression"}, "task.kind", "classification, generation"),
    ({"examples": []}, "task.examples", "empty"),
    ({"examples": [{"input": "a", "output": "maybe"}]}, "task.examples[0].output", "not one of the labels"),
    ({"examples": [{"input": " ", "output": "yes"}]}, "task.examples[0].input", "empty"),
])
def test_bad_task_fields(change, field, words):
    with pytest.raises(ConfigError) as err:
        task_from_dict({**GOOD_TASK, **change})
    assert err.value.field == field
    assert words in str(err.value)


@pytest.mark.parametrize("config, field, words", [
    ({"task": "animal-or-fruit", "methods": ["icl", "magic"]}, "methods", "magic"),
    ({"task": "animal-or-fruit", "n": [0]}, "n", "integer >= 1"),
    ({"task": "animal-or-fruit", "seeds": 0}, "seeds", "at least one seed"),
    ({"task": "animal-or-fruit", "learning_rate": 1}, "learning_rate", "unknown key"),
    ({"task": "animal-or-fruit", "adapter": {"type": "prefix"}}, "adapter.type", "lora or ia3"),
    ({"task": "animal-or-fruit", "training": {"lr": -1}}, "training.lr", "positive"),
    ({"task": "animal-or-fruit", "eval_size": 10, "similarity_size": 20}, "similarity_size", "eval_size"),
    ({}, "task", "built-in name"),
])
def test_bad_config_keys(config, field, words):
    with pytest.raises(ConfigError) as err:
        parse_config(config)
    assert err.value.field == field and words in str(err.value)


def test_unknown_builtin_task_lists_the_choices():
    with pytest.raises(ConfigError) as err:
        get_task("sst3")
    assert "animal-or-fruit" in str(err.value)


def test_n_larger_than_pool_is_reported_on_n():
    problems = check_config({"task": GOOD_TASK, "n": [4, 64]})
    assert fields(problems) == ["n"]
    assert "N=64" in problems[0][1] and "pool" in problems[0][1]


def test_labels_that_tokenize_the_same_are_rejected_naming_both():
    task = {**GOOD_TASK, "labels": ["zorp", "blick"], "examples": [{"input": "a cat", "output": "zorp"},
                                                                     {"input": "a dog", "output": "blick"}] * 6}
    problems = check_config({"task": task, "n": [2]})
    text = " ".join(m for _, m in problems)
    assert "task.labels" in fields(problems)
    assert "'zorp' and 'blick' tokenize to the same tokens" in text


def test_prompt_longer_than_context_names_task_n_and_tokens():
    long_task = {**GOOD_TASK, "examples": [{"input": "cat " * 120 + str(i), "output": "yes"} for i in range(40)]}
    problems = check_config({"task": long_task, "n": [8]})
    assert fields(problems) == ["n"]
    message = problems[0][1]
    assert "task 't' with N=8" in message and "tokens" in message and "context is 1024" in message


def test_missing_model_gives_one_clear_message(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load_tokenizer(str(tmp_path / "nowhere"))
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and "config.json" in message  # which path, and what it lacks
    problems = check_config({"task": GOOD_TASK, "n": [2], "model": "no-such-org/no-such-model-xyz"})
    assert fields(problems) == ["model"]
    assert "hub" in problems[0][1].lower() or "no such model" in problems[0][1].lower()


def test_cli_reports_bad_config_without_traceback(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"task": "animal-or-fruit", "methods": ["icl", "nope"]}))
    proc = subprocess.run([sys.executable, "-m", "workers.engine", "compare", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "methods" in proc.stderr and "nope" in proc.stderr
    assert "Traceback" not in proc.stderr
