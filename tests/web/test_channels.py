"""Websocket: progress events of a run reach a connected client; reconnecting
clients catch up from their last seen ids; strangers are refused."""
import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from webapp.lab.models import Experiment, Run
from webapp.lab.routing import websocket_urlpatterns
from webapp.lab.services.events import ProgressRecorder

from .conftest import make_task

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@sync_to_async
def _setup():
    from django.contrib.auth import get_user_model

    User = get_user_model()
    owner = User.objects.create_user("owner", password="x")
    stranger = User.objects.create_user("stranger", password="x")
    task = make_task(owner)
    exp = Experiment.objects.create(owner=owner, train_task=task, methods=["sft"], n_values=[4])
    run = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, state="running")
    return owner, stranger, exp, run


def _communicator(exp, user):
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/experiments/{exp.pk}/")
    comm.scope["user"] = user
    return comm


@sync_to_async
def _emit(run, steps):
    rec = ProgressRecorder(run, min_interval=0.0)
    for step in steps:
        rec({"stage": "sft", "step": step, "total": 10, "values": {"loss": 1.0 / step}})
    rec.close()


async def _receive_until(comm, predicate, limit=20):
    for _ in range(limit):
        msg = await comm.receive_json_from(timeout=5)
        if predicate(msg):
            return msg
    raise AssertionError("expected message not received")


async def test_progress_reaches_websocket_client():
    owner, _, exp, run = await _setup()
    comm = _communicator(exp, owner)
    connected, _ = await comm.connect()
    assert connected
    await comm.send_json_to({"type": "resume", "last_event": 0, "last_point": 0})
    replay = await comm.receive_json_from(timeout=5)
    assert replay["type"] == "replay" and replay["runs"][0]["id"] == run.pk and replay["events"] == []
    await _emit(run, [1, 2, 3])
    msg = await _receive_until(comm, lambda m: m["type"] == "event" and m["points"])
    assert msg["run"]["stage"] == "sft" and msg["points"][0]["series"] == "sft/loss"
    assert msg["event"]["id"] > 0 and msg["points"][0]["id"] > 0
    await comm.disconnect()


async def test_reconnect_catches_up():
    owner, _, exp, run = await _setup()
    await _emit(run, [1, 2])
    comm = _communicator(exp, owner)
    await comm.connect()
    await comm.send_json_to({"type": "resume", "last_event": 0, "last_point": 0})
    first = await comm.receive_json_from(timeout=5)
    assert [p["step"] for p in first["points"]] == [1, 2]
    await comm.disconnect()
    await _emit(run, [3, 4, 5])  # missed while disconnected
    comm = _communicator(exp, owner)
    await comm.connect()
    last_point = max(p["id"] for p in first["points"])
    last_event = max(e["id"] for e in first["events"])
    await comm.send_json_to({"type": "resume", "last_event": last_event, "last_point": last_point})
    again = await comm.receive_json_from(timeout=5)
    assert [p["step"] for p in again["points"]] == [3, 4, 5]
    assert all(e["id"] > last_event for e in again["events"]) and again["events"]
    await comm.disconnect()


async def test_stranger_and_anonymous_refused():
    from django.contrib.auth.models import AnonymousUser

    _, stranger, exp, _ = await _setup()
    for user in (stranger, AnonymousUser()):
        comm = _communicator(exp, user)
        connected, code = await comm.connect()
        assert not connected
        await comm.disconnect()


async def test_full_asgi_app_requires_session():
    from webapp.asgi import application

    _, _, exp, _ = await _setup()
    comm = WebsocketCommunicator(application, f"/ws/experiments/{exp.pk}/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _ = await comm.connect()
    assert not connected
    await comm.disconnect()
