"""Every progress event of a training stage says which learning-rate trial it belongs to
(the web app draws one loss line per trial and a progress bar over all of them)."""
from workers.engine.plan import RunKey
from workers.engine.runner import execute_run


def test_training_events_name_their_learning_rate_trial():
    events = []
    cfg = {"model": "embedded", "task": "animal-or-fruit", "n": [4], "seeds": [0], "eval_size": 20,
           "similarity_size": 5, "training": {"lr": [0.01, 0.03], "max_epochs": 2, "patience": 1}}
    execute_run(cfg, RunKey("sft", 4, 0), on_progress=events.append)
    training = [e for e in events if e.stage == "sft"]
    assert {(e.run["lr_trial"], e.run["lr"]) for e in training} == {(0, 0.01), (1, 0.03)}
    assert {e.run["lr_trials"] for e in training} == {2}
    assert all(e.run["method"] == "sft" for e in training)  # the run's own context is kept
    # the trial's steps restart at 0 (its first event) and events after training carry no trial
    first_of_second = next(e for e in training if e.run["lr_trial"] == 1)
    assert first_of_second.step <= 2
    assert not any("lr_trial" in e.run for e in events if e.stage in ("load", "eval", "similarity", "done"))
