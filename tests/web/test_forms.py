"""Experiment and task form validation: every bad input names its field, and nothing
is created or queued."""
import re

import pytest

from webapp.lab.experiment_form import ExperimentForm
from webapp.lab.services.planning import map_engine_field
from webapp.lab.forms import TaskForm
from webapp.lab.models import Experiment, Run

from .conftest import experiment_post, make_task


def _post_invalid(client, data):
    resp = client.post("/experiments/new/", data)
    assert resp.status_code == 200
    assert Experiment.objects.count() == 0 and Run.objects.count() == 0
    return resp.context["form"]


@pytest.mark.django_db
@pytest.mark.parametrize("n_values,ok", [("4", True), ("5", False), ("4,16", False)])
def test_pool_rule_is_the_engines(client_in, task, no_engine_check, fake_runner, n_values, ok):
    """12 examples, evaluation set of 6 (half the pool when eval_size is larger): N=4 needs
    4 + 2 dev = 6 outside it and fits; N=5 needs 5 + 2 = 7 and does not, although 5 < 12
    (the old form rule `max(N) > pool` let it through, and the engine failed it later)."""
    from workers.engine.errors import ConfigError
    from workers.engine.sampling import draw_split

    n = max(int(v) for v in n_values.split(","))
    try:
        draw_split(task.to_engine_task(), n, 0, 20)
        engine_ok = True
    except ConfigError:
        engine_ok = False
    assert engine_ok == ok  # the engine agrees with this table
    resp = client_in.post("/experiments/new/", experiment_post(task, n_values=n_values))
    if ok:
        assert resp.status_code == 302 and Experiment.objects.count() == 1
        return
    form = resp.context["form"]
    assert Experiment.objects.count() == 0 and Run.objects.count() == 0 and fake_runner.calls == []
    message = form.errors["n_values"][0]
    assert f"N={n} needs {n + n // 2} examples" in message and "has 6 outside the evaluation set" in message


@pytest.mark.django_db
def test_empty_label_set(client_in, user, no_engine_check):
    task = make_task(user, name="nolabels")
    task.labels = []
    task.save()
    form = _post_invalid(client_in, experiment_post(task))
    assert "empty label set" in form.errors["train_task"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("field,value,needle", [
    ("n_values", "four", "whole numbers"),
    ("n_values", "0", "at least 1"),
    ("target_modules", " , ", "module names"),
    ("seeds", "0", "greater than or equal"),
    ("methods", [], "required"),
    ("model_name", "", "required"),
])
def test_bad_simple_fields(client_in, task, no_engine_check, field, value, needle):
    form = _post_invalid(client_in, experiment_post(task, **{field: value}))
    assert field in form.errors and needle in " ".join(form.errors[field])


def _engine_config(**patch):
    """A valid engine config (inline task, embedded model), then `patch` applied."""
    labels = ["yes", "no"]
    task = {"name": "t", "kind": "classification", "input_template": "{x} ", "labels": labels,
            "examples": [{"input": f"i saw a cat {i}", "output": labels[i % 2]} for i in range(40)]}
    cfg = {"model": "embedded", "task": task, "eval_tasks": [task], "methods": ["icl"], "n": [4], "seeds": [0],
           "eval_size": 10, "similarity_size": 5, "adapter": {"type": "lora", "r": 8, "alpha": 8}}
    for key, value in patch.items():
        if key.startswith("task."):
            cfg["task"] = {**task, key[5:]: value}
        elif key.startswith("eval_task."):
            cfg["eval_tasks"] = [task, {**task, "name": "e", key[10:]: value}]
        elif key.startswith("adapter."):
            cfg["adapter"] = {**cfg["adapter"], key[8:]: value}
        else:
            cfg[key] = value
    return cfg


# a bad value -> the field the real engine names -> the form field that shows the message
ENGINE_CASES = [
    ({"model": "/nonexistent/model-dir"}, "model", "model_name"),
    ({"task.labels": ["only"]}, "task.labels", "train_task"),
    ({"eval_task.input_template": "no placeholder"}, "eval_tasks[1].input_template", "eval_tasks"),
    ({"methods": ["nope"]}, "methods", "methods"),
    ({"n": [40]}, "n", "n_values"),
    ({"seeds": 0}, "seeds", "seeds"),
    ({"icl_demos": 0}, "icl_demos", "icl_demos"),
    ({"eval_size": 0}, "eval_size", "eval_size"),
    ({"similarity_size": 11}, "similarity_size", "similarity_size"),
    ({"adapter.type": "prefix"}, "adapter.type", "adapter_type"),
    ({"adapter.r": 0}, "adapter.r", "lora_r"),
    ({"adapter.alpha": 0}, "adapter.alpha", "lora_alpha"),
    ({"methods": ["sft"], "adapter.target_modules": ["q_proj", "c_attn"]}, "adapter.target_modules",
     "target_modules"),
]


@pytest.mark.parametrize("patch,engine_field,form_field", ENGINE_CASES)
def test_real_engine_problems_map_to_form_fields(patch, engine_field, form_field):
    from workers.engine.validation import check_config

    assert check_config(_engine_config()) == []  # the base config is fine
    problems = check_config(_engine_config(**patch))
    assert [f for f, _ in problems] == [engine_field] and problems[0][1]
    assert map_engine_field(engine_field) == form_field


def test_field_map_has_only_fields_the_engine_emits():
    from webapp.lab.experiment_spec import ENGINE_FIELDS as ENGINE_FIELD_MAP

    emitted = {re.sub(r"\[\d+\]", "", f) for _, f, _ in ENGINE_CASES}
    used = {next(k for k in sorted(ENGINE_FIELD_MAP, key=len, reverse=True) if e == k or e.startswith(k + "."))
            for e in emitted}
    assert used == set(ENGINE_FIELD_MAP)


@pytest.mark.django_db
def test_engine_problem_reaches_the_form_field_and_creates_nothing(client_in, user):
    """Through the form with the real engine check: a model that cannot be loaded."""
    task = make_task(user)
    form = _post_invalid(client_in, experiment_post(task, model_name="/nonexistent/model-dir"))
    assert list(form.errors) == ["model_name"] and "/nonexistent/model-dir" in form.errors["model_name"][0]


@pytest.mark.django_db
def test_engine_check_crash_queues_nothing(client_in, task, monkeypatch):
    def boom(config):
        raise ValueError("tokenizer exploded")

    monkeypatch.setattr("webapp.lab.services.planning.engine_check", boom)
    form = _post_invalid(client_in, experiment_post(task))
    assert "tokenizer exploded" in form.non_field_errors()[0]


@pytest.mark.django_db
def test_hub_preset_without_examples(client_in, user, no_engine_check):
    from webapp.lab.models import Task

    preset = Task.objects.create(owner=None, name="sst2", labels=["0", "1"], needs_hub=True, builtin=True)
    form = _post_invalid(client_in, experiment_post(preset))
    assert "Hugging Face hub" in form.errors["train_task"][0]


@pytest.mark.parametrize("field,expected", [
    ("model", "model_name"), ("n", "n_values"), ("adapter.r", "lora_r"), ("adapter.dropout", None),
    ("eval_tasks[1].labels", "eval_tasks"), ("task.examples[3]", "train_task"), ("nothing", None),
])
def test_map_engine_field(field, expected):
    assert map_engine_field(field) == expected


@pytest.mark.django_db
def test_other_users_task_not_selectable(user, other_user, no_engine_check):
    theirs = make_task(other_user, name="secret")
    form = ExperimentForm(experiment_post(theirs), user=user)
    assert not form.is_valid() and "train_task" in form.errors


@pytest.mark.django_db
@pytest.mark.parametrize("data,field,needle", [
    ({"input_template": "Text: no placeholder"}, "input_template", "{x}"),
    ({"labels_text": ""}, "labels_text", "label set"),
    ({"labels_text": "yes\nyes"}, "labels_text", "once"),
])
def test_task_form_errors(user, data, field, needle):
    base = {"name": "t", "description": "", "kind": "classification", "input_template": "Text:{x}\nLabel:",
            "answer_parser": "plain", "labels_text": "yes, no"}
    form = TaskForm({**base, **data}, owner=user)
    assert not form.is_valid() and needle in form.errors[field][0]
