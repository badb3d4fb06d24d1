"""Teams, roles, share links, copies, moves, deletes and the audit trail, through the pages."""
import logging
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from webapp.lab.models import Artifact, Experiment, Run, Task
from webapp.teams import permissions, services
from webapp.teams.models import AuditEvent, Membership, ShareLink, Team, hash_token

from .conftest import experiment_post, make_task
from .teams_world import build_world, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def w():
    return build_world()


def as_(role, w):
    return client_for(role, w, Client)


def test_every_user_has_one_personal_team_and_objects_default_into_it(django_user_model):
    u = django_user_model.objects.create_user("solo", password="pw")
    personal = Team.objects.get(personal=True, created_by=u)
    assert services.personal_team(u) == personal and Membership.objects.get(team=personal).role == "owner"
    task = make_task(u, name="mine")
    assert task.team == personal and permissions.can(u, "delete", task)
    with pytest.raises(services.TeamError):
        services.invite(u, personal, "solo", "viewer")


def test_lists_show_the_current_teams_objects(w):
    owner = as_("owner", w)
    page = owner.get("/experiments/").content.decode()
    assert "t-exp" in page and "u-exp" not in page
    # switch to the personal space: team T's experiment leaves the list
    personal = services.personal_team(w.users["owner"])
    assert owner.post("/teams/switch/", {"team": personal.pk}).status_code == 302
    assert "t-exp" not in owner.get("/experiments/").content.decode()
    assert "t-task" not in owner.get("/tasks/").content.decode()
    # a team the user is not in cannot be switched to
    assert owner.post("/teams/switch/", {"team": w.objects["other"].pk}).status_code == 404


def test_foreign_and_guessed_ids_answer_404_also_inside_forms(w, no_engine_check, fake_runner):
    editor = as_("editor", w)
    u_task, own = w.objects["u_task"], w.objects["task"]
    guessed = Task.objects.order_by("-pk").first().pk + 1000
    for bad in (u_task.pk, guessed):
        before = Experiment.objects.count()
        assert editor.post("/experiments/new/", experiment_post(own, train_task=bad)).status_code == 404
        assert editor.post("/experiments/new/", experiment_post(own, eval_tasks=[own.pk, bad])).status_code == 404
        assert Experiment.objects.count() == before
    for url in (f"/experiments/{w.objects['u_exp'].pk}/", f"/experiments/{w.objects['u_exp'].pk + 999}/",
                f"/tasks/{u_task.pk}/", f"/teams/{w.objects['other'].pk}/"):
        assert editor.get(url).status_code == 404, url
    # ids that are not ids, in URLs' forms: 404 too, never a 500
    for bad in ("abc", "", "1.5", str(2 ** 70)):
        assert editor.post("/teams/switch/", {"team": bad}).status_code == 404, bad
        assert editor.post(f"/experiments/{w.objects['exp'].pk}/copy/", {"team": bad}).status_code == 404, bad
        expected = 200 if bad == "" else 404  # empty: the form says the field is required
        assert editor.post("/experiments/new/", experiment_post(own, train_task=bad)).status_code == expected, bad
    # the editor's own team task and a built-in are accepted; the experiment lands in team T
    resp = editor.post("/experiments/new/", experiment_post(own, eval_tasks=[own.pk, w.objects["builtin"].pk]))
    assert resp.status_code == 302
    exp = Experiment.objects.latest("pk")
    assert exp.team == w.objects["team"] and exp.owner == w.users["editor"]
    assert AuditEvent.objects.filter(team=exp.team, verb="launch", object_id=exp.pk).exists()


def test_viewers_cannot_launch_cancel_edit_or_delete_and_see_no_such_buttons(w):
    viewer, exp = as_("viewer", w), w.objects["exp"]
    page = viewer.get(f"/experiments/{exp.pk}/").content.decode()
    for hidden in ("/cancel/", "/delete/", "/share/", "Create link", "New experiment"):
        assert hidden not in page, hidden
    assert viewer.post(f"/experiments/{exp.pk}/cancel/").status_code == 403
    assert viewer.post(f"/experiments/{exp.pk}/delete/").status_code == 403
    assert viewer.post(f"/tasks/{w.objects['task'].pk}/examples/add/", {"input": "x", "output": "positive"}
                       ).status_code == 403
    assert Run.objects.get(pk=w.objects["queued"].pk).state == Run.QUEUED
    owner_page = as_("owner", w).get(f"/experiments/{exp.pk}/").content.decode()
    assert "/cancel/" in owner_page and "/delete/" in owner_page and "Create link" in owner_page


def test_editors_cannot_change_membership(w):
    editor, team = as_("editor", w), w.objects["team"]
    m = w.objects["viewer_membership"]
    assert editor.post(f"/teams/{team.pk}/invite/", {"who": "newbie", "role": "owner"}).status_code == 403
    assert editor.post(f"/teams/{team.pk}/members/{m.pk}/role/", {"role": "owner"}).status_code == 403
    assert editor.post(f"/teams/{team.pk}/members/{m.pk}/remove/").status_code == 403
    assert Membership.objects.get(pk=m.pk).role == "viewer"
    assert not Membership.objects.filter(team=team, user__username="newbie").exists()
    assert "Add member" not in editor.get(f"/teams/{team.pk}/").content.decode()


def test_invite_by_email_roles_and_the_last_owner(w):
    owner, team = as_("owner", w), w.objects["team"]
    assert owner.post(f"/teams/{team.pk}/invite/", {"who": "NEWBIE@example.org", "role": "editor"}).status_code == 302
    assert Membership.objects.get(team=team, user__username="newbie").role == "editor"
    me = Membership.objects.get(team=team, user=w.users["owner"])
    # the last owner can neither be demoted nor leave
    owner.post(f"/teams/{team.pk}/members/{me.pk}/role/", {"role": "viewer"})
    owner.post(f"/teams/{team.pk}/leave/")
    assert Membership.objects.get(pk=me.pk).role == "owner"
    assert "last owner" in owner.get(f"/teams/{team.pk}/").content.decode()
    # with a second owner, the first may leave; the team's objects stay
    editor_m = Membership.objects.get(team=team, user=w.users["editor"])
    assert owner.post(f"/teams/{team.pk}/members/{editor_m.pk}/role/", {"role": "owner"}).status_code == 302
    assert owner.post(f"/teams/{team.pk}/leave/").status_code == 302
    assert not Membership.objects.filter(pk=me.pk).exists()
    assert Experiment.objects.filter(pk=w.objects["exp"].pk, team=team).exists()
    assert as_("owner", w).get(f"/experiments/{w.objects['exp'].pk}/").status_code == 404
    verbs = list(AuditEvent.objects.filter(team=team).values_list("verb", flat=True))
    assert {"invite", "role", "leave"} <= set(verbs)


def test_share_link_token_is_shown_once_and_only_its_hash_is_stored(w, caplog):
    editor, exp = as_("editor", w), w.objects["exp"]
    resp = editor.post(f"/experiments/{exp.pk}/share/", {"label": "paper", "expires_in_days": 7})
    assert resp.status_code == 200 and resp["Cache-Control"].startswith("max-age=0")
    url = resp.context["url"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 43 and token in resp.content.decode()  # 256 bits, urlsafe base64
    link = ShareLink.objects.get(label="paper")
    assert link.token_hash == hash_token(token) and token not in str(ShareLink.objects.values().get(pk=link.pk))
    # the experiment page lists the link (who, when) but never shows the token again
    page = editor.get(f"/experiments/{exp.pk}/").content.decode()
    assert "paper" in page and token not in page
    assert token not in as_("owner", w).get(f"/teams/{w.objects['team'].pk}/audit/").content.decode()
    # opening it without an account: the experiment, not the team's other pages
    anon = Client()
    shared = anon.get(f"/s/{token}/")
    assert shared.status_code == 200 and "t-exp" in shared.content.decode()
    assert "/cancel/" not in shared.content.decode() and f"/tasks/{exp.train_task_id}/" not in shared.content.decode()
    assert anon.get(f"/s/{token}/results.json").json()["eval_tasks"] == ["t-task"]
    assert ShareLink.objects.get(pk=link.pk).last_opened_at is not None
    # revoked: 404 at once for the page and the JSON an open page polls; the token is not logged
    with caplog.at_level(logging.WARNING):
        editor.post(f"/experiments/{exp.pk}/share/{link.pk}/revoke/")
        assert anon.get(f"/s/{token}/results.json").status_code == 404
        assert anon.get(f"/s/{token}/").status_code == 404
    assert "Not Found: /s/[redacted]/" in caplog.text and token not in caplog.text
    assert AuditEvent.objects.filter(verb="revoke", object_id=exp.pk).exists()


def test_share_token_is_redacted_from_log_records():
    from webapp.teams.logging import RedactShareTokens

    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/s/abcDEF123_-xyz/",),
                               None)
    RedactShareTokens().filter(record)
    assert record.getMessage() == "Not Found: /s/[redacted]/"


def test_delete_experiment_cancels_runs_and_removes_artifacts(w, django_capture_on_commit_callbacks):
    exp, editor = w.objects["exp"], as_("editor", w)
    done = exp.runs.get(state=Run.DONE)
    path = Path(settings.MEDIA_ROOT) / "runs" / str(exp.pk) / str(done.pk) / "adapter.safetensors"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"weights")
    Artifact.objects.create(run=done, kind="adapter", path=str(path.relative_to(settings.MEDIA_ROOT)), sha256="x")
    running = Run.objects.create(experiment=exp, method="ia2", n=4, seed=0, state=Run.RUNNING)
    # a running run is asked to stop first; nothing is deleted while it runs
    assert editor.post(f"/experiments/{exp.pk}/delete/").status_code == 302
    assert Experiment.objects.filter(pk=exp.pk).exists()
    assert Run.objects.get(pk=running.pk).cancel_requested
    assert Run.objects.get(pk=w.objects["queued"].pk).state == Run.CANCELLED
    Run.objects.filter(pk=running.pk).update(state=Run.CANCELLED)
    with django_capture_on_commit_callbacks(execute=True):  # the files go once the delete commits
        assert editor.post(f"/experiments/{exp.pk}/delete/").status_code == 302
    assert not Experiment.objects.filter(pk=exp.pk).exists() and not path.exists()
    assert not path.parent.parent.exists()
    event = AuditEvent.objects.get(verb="delete", object_type="experiment")
    assert event.object_label == "t-exp" and event.actor == w.users["editor"]


def test_an_editor_cannot_delete_another_members_experiment(w, no_engine_check, fake_runner):
    owner = as_("owner", w)
    owner.post("/experiments/new/", experiment_post(w.objects["task"], name="owners"))
    theirs = Experiment.objects.get(name="owners")
    assert as_("editor", w).post(f"/experiments/{theirs.pk}/delete/").status_code == 403
    assert Experiment.objects.filter(pk=theirs.pk).exists()


def test_deleting_a_used_task_names_the_experiment(w):
    owner, task = as_("owner", w), w.objects["task"]
    resp = owner.post(f"/tasks/{task.pk}/delete/", follow=True)
    assert Task.objects.filter(pk=task.pk).exists() and "&quot;t-exp&quot; (#" in resp.content.decode()


def test_copy_a_task_and_an_experiments_configuration_into_another_team(w):
    editor = as_("editor", w)
    personal = services.personal_team(w.users["editor"])
    assert editor.post(f"/tasks/{w.objects['task'].pk}/copy/", {"team": personal.pk}).status_code == 302
    copy = Task.objects.get(team=personal, name="t-task")
    assert copy.examples.count() == w.objects["task"].examples.count() and copy.owner == w.users["editor"]
    # an experiment's configuration: the form opens prefilled in the destination, no results copied
    resp = editor.post(f"/experiments/{w.objects['exp'].pk}/copy/", {"team": personal.pk}, follow=True)
    form = resp.context["form"]
    assert form.initial["name"] == "t-exp (copy)" and form.initial["methods"] == ["sft"]
    assert Task.objects.get(pk=form.initial["train_task"]).team == personal
    assert not Experiment.objects.filter(team=personal).exists()
    # into a team where the user is only a viewer: refused
    assert as_("viewer", w).post(f"/experiments/{w.objects['exp'].pk}/copy/",
                                 {"team": w.objects["team"].pk}).status_code == 403


def test_move_from_the_personal_space_into_a_team(w, no_engine_check, fake_runner):
    editor = as_("editor", w)
    personal = services.personal_team(w.users["editor"])
    editor.post("/teams/switch/", {"team": personal.pk})
    task = make_task(w.users["editor"], name="draft", team=personal)
    editor.post("/experiments/new/", experiment_post(task, name="pilot"))
    exp = Experiment.objects.get(name="pilot")
    assert exp.team == personal
    assert as_("viewer", w).post(f"/experiments/{exp.pk}/move/", {"team": w.objects["team"].pk}).status_code == 404
    assert editor.post(f"/experiments/{exp.pk}/move/", {"team": w.objects["team"].pk}).status_code == 302
    exp.refresh_from_db()
    task.refresh_from_db()
    assert exp.team == w.objects["team"] and task.team == w.objects["team"]
    assert as_("viewer", w).get(f"/experiments/{exp.pk}/").status_code == 200


def test_builtin_tasks_are_read_only_through_every_route(w):
    owner, builtin = as_("owner", w), w.objects["builtin"]
    builtin.needs_hub = True
    builtin.save()
    before = builtin.examples.count()
    owner.post(f"/tasks/{builtin.pk}/import-hub/", {"dataset_id": "x/y", "split": "train", "input_column": "a",
                                                   "output_column": "b", "limit": 5})
    assert owner.post(f"/tasks/{builtin.pk}/delete/").status_code == 404
    assert owner.post(f"/tasks/{builtin.pk}/import/").status_code == 404
    assert builtin.examples.count() == before and Task.objects.filter(pk=builtin.pk).exists()


def test_audit_page_for_owners(w):
    page = as_("owner", w).get(f"/teams/{w.objects['team'].pk}/audit/").content.decode()
    for verb in ("create", "invite", "share", "revoke"):
        assert f"<td>{verb}</td>" in page, verb
    assert as_("editor", w).get(f"/teams/{w.objects['team'].pk}/audit/").status_code == 403


def test_demo_user_gets_a_personal_space_and_a_demo_team(db):
    from django.core.management import call_command

    from webapp.lab.services.builtin import upsert_shared_task

    upsert_shared_task({"name": "animal-or-fruit", "kind": "classification", "labels": ["yes", "no"],
                        "examples": [{"input": "cat", "output": "yes"}]})
    call_command("ensure_demo_user")
    call_command("ensure_demo_user")
    demo = Team.objects.get(name="demo", memberships__user__username="demo")
    assert Team.objects.filter(personal=True, created_by__username="demo").count() == 1
    assert list(demo.tasks.values_list("name", flat=True)) == ["animal-or-fruit"]


@pytest.mark.django_db
def test_a_share_link_downloads_its_own_runs_adapters_and_nothing_else(w):
    token = w.tokens["valid"]
    anon = Client()
    page = anon.get(f"/s/{token}/").content.decode()
    own = f"/s/{token}/runs/{w.objects['done'].pk}/adapter.zip"
    assert own in page and f"/experiments/{w.objects['exp'].pk}/runs/" not in page
    response = anon.get(own)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    other_run = Run.objects.create(experiment=w.objects["u_exp"], method="sft", n=4, seed=0, state=Run.DONE)
    assert anon.get(f"/s/{token}/runs/{other_run.pk}/adapter.zip").status_code == 404
    assert anon.get(f"/s/{w.tokens['revoked']}/runs/{w.objects['done'].pk}/adapter.zip").status_code == 404
