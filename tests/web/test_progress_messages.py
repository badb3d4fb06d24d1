"""What the real server sends the experiment page matches lab/progress_messages.py: the
"event" a real ProgressRecorder flush broadcasts to a websocket, history.json, and the
"replay" a reconnecting client gets; every loss point and series carries the parts of its
name (the engine's series_name), the run's training summary is the engine's as returned,
and the charts' loss labels are the engine's loss definitions. The validator refuses a
message that drifts (a missing part, an unknown key), naming the field."""
import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from pydantic import ValidationError

from webapp.lab.models import Run
from webapp.lab.progress_messages import validate
from webapp.lab.routing import websocket_urlpatterns
from webapp.lab.services.events import ProgressRecorder
from webapp.lab.services.results import store_results
from workers.engine.loss_definitions import loss_definitions
from workers.engine.plan import RunKey
from workers.engine.progress import Reporter, series_parts

from .conftest import fake_result, make_run, make_sft_experiment

TRIALS = [{"trial": 0, "lr": 0.01, "best_dev_loss": 0.8, "best_epoch": 1, "best_step": 2, "epochs_run": 2},
          {"trial": 1, "lr": 0.03, "best_dev_loss": 0.5, "best_epoch": 2, "best_step": 4, "epochs_run": 2}]
CHOSEN = {"stage": "sft", **TRIALS[1], "improved": True, "reused": False, "trials": TRIALS}


def train(run, trials=2, steps=4):
    """A run's training as the engine reports it: through its Reporter, per learning-rate trial."""
    rec = ProgressRecorder(run, min_interval=0.0)
    reporter = Reporter(rec, context={"method": "sft", "n": 4, "seed": 0})
    for trial in range(trials):
        child = reporter.child(lr_trial=trial, lr_trials=trials, lr=TRIALS[trial]["lr"])
        child.tick("sft", 0, steps, dev_loss=1.0)
        for step in range(1, steps + 1):
            child.tick("sft", step, steps, loss=1.0 / step)
        child.tick("sft", steps, steps, dev_loss=0.5 + trial)
    rec.close()


def assert_parts(points):
    assert points and all({k: p[k] for k in ("stage", "key", "trial")} == series_parts(p["series"]) for p in points)


@sync_to_async
def _setup():
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create_user("watcher", password="x")
    exp = make_sft_experiment(owner)
    return owner, exp, make_run(exp, state="running")


def _communicator(exp, user):
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/experiments/{exp.pk}/")
    comm.scope["user"] = user
    return comm


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_live_events_and_the_replay_after_a_reconnect_match_the_schema():
    owner, exp, run = await _setup()
    comm = _communicator(exp, owner)
    assert (await comm.connect())[0]
    await comm.send_json_to({"type": "resume", "last_event": 0, "last_point": 0})
    validate(await comm.receive_json_from(timeout=5))
    await sync_to_async(train)(run, trials=1)
    live = []
    while not await comm.receive_nothing(timeout=0.5):
        live.append(await comm.receive_json_from(timeout=5))
    assert live and all(validate(m).type == "event" for m in live)
    points = [p for m in live for p in m["points"]]
    assert_parts(points)
    assert {(p["key"], p["trial"]) for p in points} == {("loss", 0), ("dev_loss", 0)}
    await comm.disconnect()

    await sync_to_async(train)(run, trials=2)  # missed while away
    comm = _communicator(exp, owner)
    await comm.connect()
    await comm.send_json_to({"type": "resume", "last_event": max(m["event"]["id"] for m in live if m["event"]),
                             "last_point": max(p["id"] for p in points)})
    replay = await comm.receive_json_from(timeout=5)
    assert validate(replay).type == "replay"
    assert_parts(replay["points"])
    assert {p["trial"] for p in replay["points"]} == {0, 1} and min(p["id"] for p in replay["points"]) > max(
        p["id"] for p in points)
    await comm.disconnect()


@pytest.mark.django_db
def test_history_json_matches_the_schema_with_the_engines_summary_and_loss_definitions(client, user):
    exp = make_sft_experiment(user)
    run = make_run(exp, state="running")
    train(run)
    result = fake_result(RunKey("sft", 4, 0), exp.train_task.name)
    store_results(run, [{**result, "training_stages": [CHOSEN]}])
    Run.objects.filter(pk=run.pk).update(state=Run.DONE)
    client.force_login(user)
    history = client.get(f"/experiments/{exp.pk}/history.json").json()
    assert validate(history).type == "history"
    assert history["losses"] == loss_definitions()
    (snapshot,) = history["runs"]
    assert snapshot["training"] == [CHOSEN]  # shown as the engine returned it
    series = history["series"][str(run.pk)]
    assert {name: (s["stage"], s["key"], s["trial"]) for name, s in series.items()} == {
        "sft/loss@0": ("sft", "loss", 0), "sft/loss@1": ("sft", "loss", 1),
        "sft/dev_loss@0": ("sft", "dev_loss", 0), "sft/dev_loss@1": ("sft", "dev_loss", 1)}
    assert series["sft/dev_loss@1"]["steps"] == [0, 4] and series["sft/dev_loss@1"]["values"] == [1.0, 1.5]


def test_the_validator_names_what_drifted():
    point = {"id": 1, "run_id": 1, "series": "sft/loss@0", "stage": "sft", "key": "loss", "trial": 0, "step": 1,
             "value": 0.5}
    validate({"type": "replay", "runs": [], "events": [], "points": [point]})
    for bad, field in (({k: v for k, v in point.items() if k != "trial"}, "trial"), ({**point, "name": "x"}, "name"),
                       ({**point, "value": "high"}, "value")):
        with pytest.raises(ValidationError, match=field):
            validate({"type": "replay", "runs": [], "events": [], "points": [bad]})
    with pytest.raises(ValidationError, match="type"):
        validate({"type": "snapshot", "runs": []})
