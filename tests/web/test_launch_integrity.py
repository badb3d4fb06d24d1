"""A launch is one transaction (services/launch.py), on real Postgres:
- the queued-runs quota is checked in it under a lock on the user's row, so concurrent
  launches cannot each see the same room (issue 22, item 3);
- its audit event is written in it, so a process killed after the commit still leaves the
  audit line (item 9);
- a replayed idempotency key answers the earlier experiment only while its user may still
  read it: a removed member learns nothing of the team's experiment (item 6)."""
import json
import threading

import pytest
from django.db import connection
from django.test import Client

from webapp.api.services import create_token
from webapp.lab.models import Experiment, Run
from webapp.lab.services import planning
from webapp.lab.services.launch import launch
from webapp.teams.models import AuditEvent, Membership
from webapp.teams.services import create_team, personal_team, remove_member

from .conftest import experiment_post, make_run, make_sft_experiment, make_task

pytestmark = pytest.mark.django_db(transaction=True)


def _body(task, **over):
    body = {"name": "exp", "model_name": "embedded", "train_task": task.pk, "methods": ["icl", "sft"],
            "n_values": [4], "seeds": 1, "adapter_type": "lora", "lora_r": 8, "lora_alpha": 8,
            "target_modules": ["q_proj", "k_proj", "o_proj"], "eval_size": 20, "confirm_unreadable": True}
    body.update(over)
    return body


def _post(token, body):
    return Client().post("/api/experiments/", json.dumps(body), content_type="application/json",
                         headers={"Authorization": f"Bearer {token}"})


# --- item 3: the quota under concurrent launches ----------------------------------------

def test_concurrent_launches_cannot_beat_the_queued_runs_quota(user, settings, no_engine_check, monkeypatch):
    """Limit 30, 20 runs queued, six 10-run launches at once. Every launch passes the
    planning check before any of them writes (a barrier holds them just before the write:
    the worst interleaving, every time): at most one is accepted."""
    settings.LAB_MAX_QUEUED_RUNS_PER_USER = 30
    exp = make_sft_experiment(user)
    for seed in range(20):
        make_run(exp, seed=seed)
    task = make_task(user, name="own", team=personal_team(user))
    token = create_token(user, "tests")[1]
    barrier = threading.Barrier(6, timeout=60)
    monkeypatch.setattr("webapp.lab.services.dispatch.check_broker", lambda **kw: barrier.wait())
    answers = []

    def one_launch(i):
        try:
            answers.append(_post(token, _body(task, name=f"burst {i}", methods=["icl", "sft"], seeds=5)))
        finally:
            connection.close()

    threads = [threading.Thread(target=one_launch, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 422, 422, 422, 422, 422], [r.content[:300] for r in answers]
    refused = [r.json() for r in answers if r.status_code == 422]
    assert all("at most 30 runs queued or running" in body["detail"] for body in refused), refused
    assert Run.objects.filter(experiment__owner=user, state=Run.QUEUED).count() == 30
    assert Experiment.objects.filter(name__startswith="burst").count() == 1


def test_the_page_shows_the_quota_message_when_a_launch_lost_the_race(client_in, user, settings, no_engine_check,
                                                                       monkeypatch):
    """The form was checked with room left; another launch took it before this one wrote."""
    settings.LAB_MAX_QUEUED_RUNS_PER_USER = 3
    task = make_task(user, name="own", team=personal_team(user))
    exp = make_sft_experiment(user)

    def someone_else_launches(**kw):
        make_run(exp, seed=7)
        make_run(exp, seed=8)

    monkeypatch.setattr("webapp.lab.services.dispatch.check_broker", someone_else_launches)
    resp = client_in.post("/experiments/new/", experiment_post(task))
    assert resp.status_code == 200
    assert "at most 3 runs queued or running" in " ".join(resp.context["form"].non_field_errors())
    assert not Experiment.objects.filter(train_task=task).exists()


# --- item 9: the audit event in the launch's transaction --------------------------------

class Killed(BaseException):
    """The process dies (no `except Exception` catches it)."""


def test_a_kill_right_after_the_commit_still_leaves_the_audit_event(client_in, user, no_engine_check, monkeypatch):
    task = make_task(user, name="own", team=personal_team(user))

    def killed(*args, **kwargs):
        raise Killed()

    monkeypatch.setattr("webapp.lab.services.dispatch.send_pending", killed)  # runs on commit
    with pytest.raises(Killed):
        client_in.post("/experiments/new/", experiment_post(task, name="killed"))
    exp = Experiment.objects.get(name="killed")  # committed
    event = AuditEvent.objects.get(verb="launch", object_id=exp.pk)
    assert event.actor == user and event.team == exp.team and event.details == {"runs": 2}


def test_an_audit_write_that_fails_launches_nothing(user, no_engine_check, monkeypatch):
    task = make_task(user, name="own", team=personal_team(user))
    plan = planning.plan_submission(user, {"name": "x", "model_name": "embedded", "train_task": task.pk,
                                           "methods": ["icl"], "n_values": "4", "eval_size": 20,
                                           "confirm_unreadable": True}, team=personal_team(user))
    assert plan.ok, plan.errors

    def broken(*args, **kwargs):
        raise RuntimeError("the audit table is unwritable")

    monkeypatch.setattr("webapp.lab.services.launch.record", broken)
    with pytest.raises(RuntimeError):
        launch(user, personal_team(user), plan)
    assert not Experiment.objects.filter(name="x").exists() and not Run.objects.filter(experiment__name="x").exists()


# --- item 6: an idempotency key replayed after leaving the team -------------------------

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def left_team(user, other_user, no_engine_check):
    """`user` launched "secret plan" in other_user's team with KEY, then was removed from it."""
    team = create_team(other_user, "T")
    membership = Membership.objects.create(team=team, user=user, role=Membership.EDITOR)
    team_task = make_task(other_user, name="team task", team=team)
    token = create_token(user, "tests")[1]
    first = _post(token, _body(team_task, name="secret plan", team=team.pk, submit_key=KEY))
    assert first.status_code == 201, first.content
    assert _post(token, _body(team_task, team=team.pk, submit_key=KEY)).status_code == 200  # a member: the same
    remove_member(other_user, membership)
    return {"token": token, "own_task": make_task(user, name="own", team=personal_team(user))}


def test_api_replay_after_removal_reveals_nothing(user, left_team):
    resp = _post(left_team["token"], _body(left_team["own_task"], submit_key=KEY))
    assert resp.status_code == 409, resp.content
    assert b"secret plan" not in resp.content and b'"team"' not in resp.content
    assert "submit_key was already used" in resp.json()["detail"]
    assert Experiment.objects.filter(owner=user).count() == 1  # nothing launched either


def test_page_replay_after_removal_reveals_nothing(client_in, user, left_team):
    resp = client_in.post("/experiments/new/", experiment_post(left_team["own_task"], submit_key=KEY))
    assert resp.status_code == 302 and resp["Location"] == "/experiments/new/"
    page = client_in.get(resp["Location"]).content.decode()
    assert "submit_key was already used" in page and "secret plan" not in page
    assert Experiment.objects.filter(owner=user).count() == 1
