"""Every progress event of a training stage says which learning-rate trial it belongs to
(the web app draws one loss line per trial and a progress bar over all of them), and the
engine reports what training chose once: the chosen trial and every trial's best epoch and
step, matching the loss history it returns and the events it streamed."""
import pytest

from workers.engine.plan import RunKey
from workers.engine.progress import run_fraction, series_name, series_parts
from workers.engine.runner import execute_run


@pytest.fixture(scope="module")
def sft_run():
    events = []
    cfg = {"model": "embedded", "task": "animal-or-fruit", "n": [4], "seeds": [0], "eval_size": 20,
           "similarity_size": 5, "training": {"lr": [0.01, 0.03], "max_epochs": 2, "patience": 1}}
    results = execute_run(cfg, RunKey("sft", 4, 0), on_progress=events.append)
    return events, results[0]


def test_training_events_name_their_learning_rate_trial(sft_run):
    events, _ = sft_run
    training = [e for e in events if e.stage == "sft"]
    assert {(e.run["lr_trial"], e.run["lr"]) for e in training} == {(0, 0.01), (1, 0.03)}
    assert {e.run["lr_trials"] for e in training} == {2}
    assert all(e.run["method"] == "sft" for e in training)  # the run's own context is kept
    # the trial's steps restart at 0 (its first event) and events after training carry no trial
    first_of_second = next(e for e in training if e.run["lr_trial"] == 1)
    assert first_of_second.step <= 2
    assert not any("lr_trial" in e.run for e in events if e.stage in ("load", "eval", "similarity", "done"))


def test_each_event_says_how_far_the_whole_run_is(sft_run):
    events, _ = sft_run
    progress = [e.to_dict()["progress"] for e in events]
    assert progress[0] == 0.0 and progress[-1] == 1.0 and all(0.0 <= p <= 1.0 for p in progress)
    for trial, (low, high) in enumerate(((0.1, 0.5), (0.5, 0.9))):   # training: 80%, half per trial
        steps = [e.progress for e in events if e.stage == "sft" and e.run.get("lr_trial") == trial]
        assert steps == sorted(steps) and low - 1e-9 <= steps[0] and steps[-1] <= high + 1e-9


def test_the_engine_reports_what_training_chose(sft_run):
    events, result = sft_run
    (stage,) = result["training_stages"]
    trials = stage["trials"]
    assert [t["trial"] for t in trials] == [0, 1] and [t["lr"] for t in trials] == [0.01, 0.03]
    best = min(trials, key=lambda t: t["best_dev_loss"])  # min keeps the first of ties, as the engine does
    assert stage["trial"] == best["trial"] and stage["lr"] == best["lr"]
    assert stage["best_dev_loss"] == best["best_dev_loss"] and stage["best_step"] == best["best_step"]
    history = result["loss_history"]
    for t in trials:
        dev = {h["step"]: h["dev_loss"] for h in history if h["trial"] == t["trial"] and "dev_loss" in h}
        assert dev[t["best_step"]] == t["best_dev_loss"] and min(dev.values()) >= t["best_dev_loss"] - 1e-7
        # the events streamed the same dev-loss points, the starting one (step 0) included
        streamed = {e.step: e.values["dev_loss"] for e in events
                    if e.stage == "sft" and e.run.get("lr_trial") == t["trial"] and "dev_loss" in e.values}
        assert streamed == dev and 0 in streamed


def test_one_series_name_read_back_by_its_parts():
    assert series_name("ia2+sft", "dev_loss", 2) == "ia2+sft/dev_loss@2" and series_name("sft", "loss") == "sft/loss"
    for stage, key, trial in (("sft", "loss", 0), ("soft-sft", "dev_loss", 11), ("ia2", "loss", None)):
        assert series_parts(series_name(stage, key, trial)) == {"stage": stage, "key": key, "trial": trial}


def test_run_fraction_spans_stages_and_trials():
    assert run_fraction("ia2-sft", "ia2", 0, 10, 0, 2) == pytest.approx(0.1)
    assert run_fraction("ia2-sft", "ia2", 5, 10, 1, 2) == pytest.approx(0.1 + 0.8 * 0.75 / 2)
    assert run_fraction("ia2-sft", "sft", 0, 10, 0, 2) == pytest.approx(0.5)
    assert run_fraction("icl", "eval", 1, 2) == pytest.approx(0.5 + 0.5 * 0.25)
    assert run_fraction("sft", "done", 0, 0) == 1.0
