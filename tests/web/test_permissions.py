"""The permission rules of webapp/teams/permissions.py, asked directly (real Postgres): which
role may do which action, the creator's exception, what a personal space refuses, what each
user can read, the 404/403 split of the fetch helpers, moves, share links, API sessions and
live pages. The rules are written out here on their own, so that a changed rule fails a test
(the page-level tests in test_teams.py and test_access_matrix.py go through the views)."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import RequestFactory
from django.utils import timezone

from webapp.lab.models import Experiment
from webapp.teams import permissions as p
from webapp.teams.models import Membership, ShareLink, Team, hash_token

from .conftest import make_task

pytestmark = pytest.mark.django_db

# the least role each action needs, written out independently of permissions.MIN_ROLE
LEAST_ROLE = {"read": "viewer", "create": "editor", "edit": "editor", "launch": "editor", "cancel": "editor",
              "share": "editor", "copy_into": "editor", "delete": "owner", "manage": "owner", "audit": "owner",
              "leave": "viewer"}
ORDER = ("viewer", "editor", "owner")


class World:
    """Team T (owner, editor, viewer; a task and an experiment the editor made, a task the owner
    made), team U of an outsider, and a built-in task."""

    def __init__(self):
        User = get_user_model()
        self.users = {name: User.objects.create_user(f"{name}-u")  # no password: no hashing
                      for name in ("owner", "editor", "viewer", "outsider")}
        self.team = Team.objects.create(name="T", created_by=self.users["owner"])
        for name in ORDER:
            Membership.objects.create(team=self.team, user=self.users[name], role=name)
        self.other = Team.objects.create(name="U", created_by=self.users["outsider"])
        Membership.objects.create(team=self.other, user=self.users["outsider"], role="owner")
        self.task = make_task(self.users["editor"], name="t-task", team=self.team)
        self.owners_task = make_task(self.users["owner"], name="t-owners", team=self.team)
        self.exp = experiment(self.users["editor"], self.team, self.task, "t-exp")
        self.u_task = make_task(self.users["outsider"], name="u-task", team=self.other)
        self.u_exp = experiment(self.users["outsider"], self.other, self.u_task, "u-exp")
        self.builtin = make_task(None, name="builtin-pack", builtin=True)
        for user in self.users.values():
            p.forget(user)

    def personal(self, name):
        return Team.objects.get(personal=True, created_by=self.users[name])


def experiment(owner, team, task, name):
    exp = Experiment.objects.create(owner=owner, team=team, name=name, train_task=task, methods=["sft"],
                                    n_values=[4])
    exp.eval_tasks.set([task])
    return exp


@pytest.fixture
def w():
    return World()


def expected(role, action):
    return role in ORDER and ORDER.index(role) >= ORDER.index(LEAST_ROLE[action])


@pytest.mark.parametrize("action", sorted(LEAST_ROLE))
def test_each_action_needs_its_least_role_on_the_team_and_its_objects(w, action):
    for role in ("viewer", "editor", "owner", "outsider"):
        for obj in (w.team, w.exp, w.owners_task):
            allowed = expected(role, action) or (action == "delete" and role == "editor" and obj is w.exp)
            assert p.can(w.users[role], action, obj) is allowed, (role, action, obj)
            assert (p.refusal(w.users[role], action, obj) is None) is allowed, (role, action, obj)


def test_an_editor_may_delete_what_they_created_and_nothing_else(w):
    editor = w.users["editor"]
    assert p.can(editor, "delete", w.exp) and p.can(editor, "delete", w.task)
    assert not p.can(editor, "delete", w.owners_task)
    assert not p.can(editor, "delete", w.team)       # a team is nobody's creation to delete but the owner's
    assert not p.can(editor, "manage", w.exp)        # the exception is for deleting only
    viewers = make_task(w.users["viewer"], name="by-viewer", team=w.team)
    assert not p.can(w.users["viewer"], "delete", viewers)   # and for editors only


def test_nobody_signed_out_may_do_anything(w):
    for user in (None, AnonymousUser()):
        for action in LEAST_ROLE:
            assert p.can(user, action, w.exp) is False
        assert p.can(user, "read", w.builtin) is False
        assert not p.readable_teams(user).exists()
        assert not p.readable_experiments(user).exists()
        assert not p.readable_tasks(user).exists()
        assert p.memberships(user) == []
        assert p.can_watch(user, w.exp.pk) is False


def test_built_in_tasks_are_readable_by_everyone_and_writable_by_nobody(w):
    for role in ("owner", "outsider"):
        assert p.can(w.users[role], "read", w.builtin)
        for action in set(LEAST_ROLE) - {"read"}:
            assert not p.can(w.users[role], action, w.builtin), action
        with pytest.raises(Http404, match="^Built-in tasks are read-only: make a copy to edit it.$"):
            p.get_task_or_404(w.users[role], w.builtin.pk, "edit")
        assert p.get_task_or_404(w.users[role], w.builtin.pk) == w.builtin

    class Teamless:
        team = None

    assert not p.can(w.users["owner"], "read", Teamless())   # only a built-in task has no team
    assert not p.can(w.users["owner"], "read", object()) and p.team_of(object()) is None


def test_a_personal_space_has_one_member_nobody_manages_or_leaves(w):
    mine = w.personal("editor")
    editor = w.users["editor"]
    assert p.role(editor, mine) == "owner"
    assert p.can(editor, "create", mine) and p.can(editor, "audit", mine)
    for action in ("manage", "leave"):
        assert not p.can(editor, action, mine)
        assert p.refusal(editor, action, mine) != p.refusal(w.users["viewer"], "manage", w.team)
        with pytest.raises(PermissionDenied, match="personal space"):
            p.require(editor, action, mine)
    assert p.can(w.users["owner"], "manage", w.team) and p.can(w.users["viewer"], "leave", w.team)


def test_a_refusal_names_the_action(w):
    assert p.refusal(w.users["viewer"], "copy_into", w.team) == "Your role in this team cannot copy into this."
    with pytest.raises(PermissionDenied, match="^Your role in this team cannot launch this.$"):
        p.require(w.users["viewer"], "launch", w.team)
    assert p.require(w.users["editor"], "launch", w.team) is w.team
    # "read" is proven by the readable querysets the object came through: require asks nothing more
    assert p.require(w.users["outsider"], "read", w.exp) is w.exp


def test_each_user_reads_their_teams_objects_and_the_built_ins(w):
    viewer, outsider = w.users["viewer"], w.users["outsider"]
    assert set(p.readable_teams(viewer)) == {w.team, w.personal("viewer")}
    assert set(p.readable_teams(outsider)) == {w.other, w.personal("outsider")}
    assert list(p.readable_experiments(viewer)) == [w.exp]
    assert list(p.readable_experiments(outsider)) == [w.u_exp]
    assert sorted(t.name for t in p.readable_tasks(viewer)) == ["builtin-pack", "t-owners", "t-task"]
    assert sorted(t.name for t in p.readable_tasks(outsider)) == ["builtin-pack", "u-task"]
    assert sorted(t.name for t in p.team_tasks(w.team)) == ["builtin-pack", "t-owners", "t-task"]
    assert sorted(t.name for t in p.team_tasks(w.other)) == ["builtin-pack", "u-task"]


def test_memberships_are_read_once_per_user_object_until_forgotten(w, django_assert_num_queries):
    owner = w.users["owner"]
    with django_assert_num_queries(1):
        mine = p.memberships(owner)
        assert p.memberships(owner) is mine
    assert mine == [(w.personal("owner"), "owner"), (w.team, "owner")]   # the personal space first
    late = Team.objects.create(name="A-late", created_by=owner)
    Membership.objects.create(team=late, user=owner, role="viewer")
    assert p.role(owner, late) is None                       # still the cached list
    p.forget(owner)
    assert p.role(owner, late) == "viewer"
    assert [t.name for t, _ in p.memberships(owner)][1:] == ["A-late", "T"]   # then by name
    twins = [Team.objects.create(name="Twin", created_by=owner) for _ in range(2)]
    Membership.objects.create(team=twins[1], user=owner, role="viewer")   # the later team joined first
    Membership.objects.create(team=twins[0], user=owner, role="editor")
    p.forget(owner)
    assert [t.pk for t, _ in p.memberships(owner) if t.name == "Twin"] == [twins[0].pk, twins[1].pk]   # then by id
    p.forget(owner)
    p.forget(owner)   # forgetting twice is harmless


def test_roles_and_teams_of_objects(w):
    assert [p.role(w.users[r], w.team) for r in ORDER] == list(ORDER)
    assert p.role(w.users["outsider"], w.team) is None
    assert p.role(w.users["owner"], None) is None
    assert p.team_of(w.team) is w.team
    assert p.team_of(w.exp) == w.team and p.team_of(w.builtin) is None
    assert [t.name for t in p.editable_teams(w.users["editor"])] == [w.personal("editor").name, "T"]
    assert p.editable_teams(w.users["viewer"]) == [w.personal("viewer")]


def test_fetch_helpers_answer_404_for_what_is_not_readable_and_403_for_what_is_not_allowed(w):
    editor, viewer = w.users["editor"], w.users["viewer"]
    assert p.get_experiment_or_404(viewer, w.exp.pk) == w.exp
    assert p.get_experiment_or_404(editor, str(w.exp.pk), "cancel") == w.exp
    for bad in (w.u_exp.pk, "abc", None, "1.5", 10 ** 9):
        with pytest.raises(Http404):
            p.get_experiment_or_404(viewer, bad)
    with pytest.raises(Http404, match=r"^No such object\.$"):   # an id that is not a number
        p.get_team_or_404(viewer, "12abc")
    with pytest.raises(PermissionDenied):
        p.get_experiment_or_404(viewer, w.exp.pk, "cancel")
    narrowed = p.readable_experiments(editor).exclude(pk=w.exp.pk)   # a caller's own queryset replaces the readable one
    with pytest.raises(Http404):
        p.get_experiment_or_404(editor, w.exp.pk, queryset=narrowed)
    assert p.get_experiment_or_404(editor, w.exp.pk, queryset=p.readable_experiments(editor)) == w.exp

    assert p.get_task_or_404(viewer, w.task.pk) == w.task
    assert p.get_task_or_404(editor, w.task.pk, "edit") == w.task
    with pytest.raises(PermissionDenied):
        p.get_task_or_404(viewer, w.task.pk, "edit")
    with pytest.raises(Http404):
        p.get_task_or_404(viewer, w.u_task.pk)

    assert p.get_team_or_404(viewer, w.team.pk) == w.team
    assert p.get_team_or_404(w.users["owner"], w.team.pk, "manage") == w.team
    with pytest.raises(PermissionDenied):
        p.get_team_or_404(w.users["editor"], w.team.pk, "manage")
    with pytest.raises(Http404):
        p.get_team_or_404(viewer, w.other.pk)


def test_fetched_objects_bring_what_the_permission_check_reads(w, django_assert_num_queries):
    editor = w.users["editor"]
    p.memberships(editor)
    with django_assert_num_queries(1):   # the experiment with its team: the role check asks nothing more
        exp = p.get_experiment_or_404(editor, w.exp.pk, "cancel")
        assert exp.team.name == "T" and exp.train_task.name == "t-task" and exp.owner.username == "editor-u"
    with django_assert_num_queries(1):
        assert p.get_task_or_404(editor, w.task.pk, "edit").team.name == "T"


def test_only_the_creator_moves_from_their_personal_space_into_a_team_where_they_create(w):
    editor, viewer = w.users["editor"], w.users["viewer"]
    mine = make_task(editor, name="mine", team=w.personal("editor"))
    assert p.can_move(editor, mine, w.team)
    assert not p.can_move(editor, mine, w.other)                  # not a member there
    assert not p.can_move(editor, mine, w.personal("editor"))     # into a personal space
    assert not p.can_move(editor, w.task, w.team)                 # not from a personal space
    assert not p.can_move(viewer, mine, w.team)                   # somebody else's object
    viewers = make_task(viewer, name="viewers", team=w.personal("viewer"))
    assert not p.can_move(viewer, viewers, w.team)                # a viewer may not create there
    assert not p.can_move(editor, w.builtin, w.team)              # a built-in task has no space


def test_a_share_link_opens_while_it_is_neither_revoked_nor_expired(w, django_assert_num_queries):
    def link(token, **fields):
        return ShareLink.objects.create(experiment=w.exp, token_hash=hash_token(token), **fields)

    active = link("t-active")
    link("t-revoked", revoked_at=timezone.now())
    link("t-expired", expires_at=timezone.now() - timedelta(seconds=1))
    later = link("t-later", expires_at=timezone.now() + timedelta(days=1))
    assert p.shared_link("t-active") == active and p.shared_link("t-later") == later
    with django_assert_num_queries(1):   # the link with what its pages show first
        opened = p.shared_link("t-active")
        assert (opened.experiment.name, opened.experiment.team.name, opened.experiment.train_task.name) == \
            ("t-exp", "T", "t-task")
    for token in ("t-revoked", "t-expired", "t-unknown", "", None):
        assert p.shared_link(token) is None, token
    longest, too_long = "x" * 100, "y" * 101
    link(longest)
    link(too_long)
    assert p.shared_link(longest) is not None
    assert p.shared_link(too_long) is None   # far longer than any token: not even looked up


def test_a_browser_session_reads_the_api_and_never_writes(w):
    rf = RequestFactory()
    for method in ("get", "head", "options"):
        assert p.session_reads_api(getattr(rf, method)("/api/experiments"))
    for method in ("post", "put", "patch", "delete"):
        assert not p.session_reads_api(getattr(rf, method)("/api/experiments"))
    assert not p.session_reads_api(rf.get("/api/experiments", HTTP_AUTHORIZATION="Bearer abc"))


def test_a_live_page_is_watched_by_active_members_only(w):
    viewer = w.users["viewer"]
    assert p.can_watch(viewer, w.exp.pk)
    assert not p.can_watch(viewer, w.u_exp.pk)
    assert not p.can_watch(w.users["outsider"], w.exp.pk)
    get_user_model().objects.filter(pk=viewer.pk).update(is_active=False)
    assert not p.can_watch(viewer, w.exp.pk)   # read fresh: the object in hand still says active
