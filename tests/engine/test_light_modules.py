"""The adapter layers known from a model's config (model_info.linear_module_names, torch-free,
what check_config checks target_modules against) are exactly the layers of the loaded model
(adapters.linear_module_names, what attach_adapter checks at run time)."""
import pytest

from workers.engine.adapters import linear_module_names as loaded_names
from workers.engine.model_info import linear_module_names, load_light
from workers.engine.model_loading import load_model
from workers.engine.validation import check_config

from .tiny_models import FAMILIES


@pytest.mark.parametrize("family", FAMILIES)
def test_known_layers_match_the_loaded_model(tiny_model_dirs, family):
    path = str(tiny_model_dirs[family])
    _, config = load_light(path)
    assert sorted(linear_module_names(config)) == loaded_names(load_model(path, device="cpu").model)


def test_the_embedded_models_layers(embedded):
    _, config = load_light("embedded")
    assert sorted(linear_module_names(config)) == loaded_names(embedded.model)


def _config(**over):
    labels = ["yes", "no"]
    task = {"name": "t", "kind": "classification", "input_template": "{x} ", "labels": labels,
            "examples": [{"input": f"i saw a cat {i}", "output": labels[i % 2]} for i in range(40)]}
    return {"model": "embedded", "task": task, "methods": ["sft"], "n": [4], "seeds": [0], "eval_size": 10,
            "similarity_size": 5, "adapter": {"type": "lora", "r": 8, "alpha": 8}, **over}


def test_check_config_refuses_target_modules_the_model_lacks():
    problems = check_config(_config(adapter={"type": "lora", "r": 8, "alpha": 8, "target_modules": ["c_attn"]}))
    assert [f for f, _ in problems] == ["adapter.target_modules"]
    assert "c_attn is not a module" in problems[0][1] and "q_proj, k_proj, v_proj, o_proj" in problems[0][1]
    # methods that train no adapter do not use the modules
    assert check_config(_config(methods=["icl"], adapter={"type": "lora", "target_modules": ["c_attn"]})) == []


def test_an_evaluation_task_of_one_example_is_explained_not_crashed():
    one = {"name": "one", "kind": "classification", "input_template": "{x} ", "labels": ["yes", "no"],
           "examples": [{"input": "i saw a cat", "output": "yes"}]}
    problems = check_config(_config(methods=["icl"], eval_tasks=[one]))
    assert [f for f, _ in problems] == ["eval_tasks[0]"]
    assert "'one' has 1 example(s), so its evaluation set is empty" in problems[0][1]
