"""Experiments store their task pools once, by reference and content hash (PoolSnapshot,
services/snapshots.py): the config holds the reference, experiments on the same task
content share one row, the worker resolves the reference, and editing the task after launch
never changes what a past experiment reads."""
import json

import pytest

from webapp.lab.models import Example, Experiment, PoolSnapshot
from webapp.lab.services.lifecycle import run_job
from webapp.lab.services.snapshots import digest_of, resolve

from .conftest import experiment_post

pytestmark = pytest.mark.django_db


def test_config_holds_a_reference_and_the_pool_is_stored_once(client_in, task, no_engine_check):
    for name in ("one", "two"):
        assert client_in.post("/experiments/new/", experiment_post(task, name=name)).status_code == 302
    one, two = Experiment.objects.order_by("id")
    snapshot = PoolSnapshot.objects.get()  # train task == eval task, two experiments: one row
    assert one.config["task"] == {"snapshot": snapshot.digest, "name": "sentiment"}
    assert one.config["eval_tasks"] == [one.config["task"]] and two.config["task"] == one.config["task"]
    assert snapshot.digest == digest_of(task.to_engine_dict()) and snapshot.task == task.to_engine_dict()
    assert "example 3" not in json.dumps(one.config)  # no example text in the experiment's row
    assert resolve(one.config)["task"]["examples"][3] == {"input": "example 3", "output": "negative"}


def test_editing_the_task_after_launch_does_not_change_the_experiment(client_in, task, no_engine_check,
                                                                       fake_runner):
    client_in.post("/experiments/new/", experiment_post(task, methods=["icl"]))
    exp = Experiment.objects.get()
    launched = task.to_engine_dict()
    Example.objects.filter(task=task, position=0).update(input="edited after launch")
    Example.objects.create(task=task, position=99, input="added after launch", output="positive")
    assert task.to_engine_dict() != launched
    assert run_job(exp.runs.get().pk) == "done"
    config_seen = fake_runner_config(fake_runner, exp)
    assert config_seen["task"] == launched and config_seen["eval_tasks"] == [launched]
    # a later launch snapshots the edited task: a second row, the first one unchanged
    client_in.post("/experiments/new/", experiment_post(task, methods=["icl"], name="later"))
    assert PoolSnapshot.objects.count() == 2
    assert PoolSnapshot.objects.get(digest=digest_of(launched)).task == launched


def fake_runner_config(runner, exp):
    assert runner.configs, "the runner was not called"
    return runner.configs[-1]
