"""An open live page loses its stream the moment its user loses access: a member removed
from the team, an experiment moved to a team the member is not in, or deleted, a user
deactivated or deleted. Before,
access was checked on connect only, so an already-open page kept streaming the team's
runs. Real consumers on the app's channel layer; the writes go through the teams services."""
import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from webapp.lab.models import Experiment, Run
from webapp.lab.routing import websocket_urlpatterns
from webapp.lab.services.events import ProgressRecorder
from webapp.teams import services
from webapp.teams.models import Membership

from .conftest import make_task

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@sync_to_async
def _world():
    """Team T: owner and member (viewer); team U: the owner only. An experiment of T with a
    running run."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    owner = User.objects.create_user("owner", password="pw-owner-123")
    member = User.objects.create_user("member", password="pw-member-123")
    team = services.create_team(owner, "T")
    services.invite(owner, team, "member", Membership.VIEWER)
    other = services.create_team(owner, "U")
    task = make_task(owner)
    task.team = team
    task.save(update_fields=["team"])
    exp = Experiment.objects.create(owner=owner, team=team, train_task=task, methods=["sft"], n_values=[4])
    run = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, state="running")
    return owner, member, team, other, exp, run


async def _open(exp, user):
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/experiments/{exp.pk}/")
    comm.scope["user"] = user
    connected, _ = await comm.connect()
    assert connected
    return comm


async def _closed_with(comm):
    """The close code the server sent (other messages before it are skipped)."""
    for _ in range(20):
        out = await comm.receive_output(timeout=5)
        if out["type"] == "websocket.close":
            return out.get("code")
    raise AssertionError("the connection was not closed")


@sync_to_async
def _emit(run, step):
    rec = ProgressRecorder(run, min_interval=0.0)
    rec({"stage": "sft", "step": step, "total": 10, "values": {"loss": 1.0 / step}})
    rec.close()


async def _still_streams(comm, run, step):
    await _emit(run, step)
    for _ in range(20):
        msg = await comm.receive_json_from(timeout=5)
        if msg.get("type") == "event" and msg["run"]["step"] == step:
            return True
    return False


async def test_a_removed_member_is_disconnected_and_the_others_keep_streaming():
    owner, member, team, _, exp, run = await _world()
    watching_member, watching_owner = await _open(exp, member), await _open(exp, owner)
    membership = await sync_to_async(Membership.objects.get)(team=team, user=member)
    await sync_to_async(services.remove_member)(owner, membership)
    assert await _closed_with(watching_member) == 4403
    assert await _still_streams(watching_owner, run, 3)
    await watching_owner.disconnect()
    # and a new connection of the removed member is refused
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/experiments/{exp.pk}/")
    comm.scope["user"] = member
    assert not (await comm.connect())[0]


async def test_a_member_who_leaves_is_disconnected():
    owner, member, team, _, exp, _ = await _world()
    watching = await _open(exp, member)
    membership = await sync_to_async(Membership.objects.get)(team=team, user=member)
    await sync_to_async(services.remove_member)(member, membership)
    assert await _closed_with(watching) == 4403


async def test_moving_the_experiment_disconnects_who_cannot_follow_it():
    owner, member, _, other, exp, run = await _world()
    watching_member, watching_owner = await _open(exp, member), await _open(exp, owner)
    await sync_to_async(services.move_experiment)(owner, exp, other)
    assert await _closed_with(watching_member) == 4403
    assert await _still_streams(watching_owner, run, 4)  # the owner is in the new team too
    await watching_owner.disconnect()


async def test_deleting_the_experiment_disconnects_everyone():
    owner, member, _, _, exp, run = await _world()
    await sync_to_async(Run.objects.filter(pk=run.pk).update)(state="done")
    watching_member, watching_owner = await _open(exp, member), await _open(exp, owner)
    assert await sync_to_async(services.delete_experiment)(owner, exp, cancel_all=lambda e: None) == 0
    assert await _closed_with(watching_member) == 4403
    assert await _closed_with(watching_owner) == 4403


async def test_a_role_change_keeps_the_stream():
    owner, member, team, _, exp, run = await _world()
    watching = await _open(exp, member)
    membership = await sync_to_async(Membership.objects.get)(team=team, user=member)
    await sync_to_async(services.change_role)(owner, membership, Membership.EDITOR)
    assert await _still_streams(watching, run, 5)
    await watching.disconnect()


async def test_a_deactivated_user_is_disconnected():
    owner, member, _, _, exp, run = await _world()
    watching_member, watching_owner = await _open(exp, member), await _open(exp, owner)
    member.is_active = False
    await sync_to_async(member.save)()  # as the admin's "active" box does
    assert await _closed_with(watching_member) == 4403
    assert await _still_streams(watching_owner, run, 6)
    await watching_owner.disconnect()


async def test_a_deleted_user_is_disconnected():
    owner, member, _, _, exp, run = await _world()
    watching_member, watching_owner = await _open(exp, member), await _open(exp, owner)
    await sync_to_async(member.delete)()
    assert await _closed_with(watching_member) == 4403
    assert await _still_streams(watching_owner, run, 7)
    await watching_owner.disconnect()
