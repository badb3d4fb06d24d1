"""THE permission rules of the project: who may read or do what with which object.

Every view, JSON endpoint, download, share page and the websocket consumer asks this
module, and nothing else decides access:

- `readable_experiments(user)` / `readable_tasks(user)` / `readable_teams(user)` are the
  querysets a user can see. Views fetch objects with `get_object_or_404` over them, so an
  object of another team answers 404 (never 403, which would confirm it exists), whether
  its id is in the URL, guessed, or posted inside a form.
- `can(user, action, obj)` decides what a member may do with an object they can read.
  A refusal there answers 403: the member already knows the object exists.

Roles: owner (everything, including members, roles and deletes), editor (create, edit,
launch, cancel, share; delete what they created), viewer (read only). Built-in tasks
(team NULL) are readable by every signed-in user and writable by nobody.
"""
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404

from webapp.lab.models import Experiment, Task

from .models import Membership, Team

OWNER, EDITOR, VIEWER = Membership.OWNER, Membership.EDITOR, Membership.VIEWER
RANK = {VIEWER: 1, EDITOR: 2, OWNER: 3}

# action -> the least role that may do it (on the object's team)
MIN_ROLE = {
    "read": VIEWER,
    "create": EDITOR,  # obj: the team to create in
    "edit": EDITOR,  # a task, its examples, its imports
    "launch": EDITOR,  # obj: the team to launch in
    "cancel": EDITOR,
    "share": EDITOR,  # create and revoke share links of an experiment
    "copy_into": EDITOR,  # obj: the destination team of a fork
    "delete": OWNER,  # editors may delete what they created (below)
    "manage": OWNER,  # members and roles of a team
    "audit": OWNER,  # read the team's audit log
}
CREATOR_MAY = {"delete"}  # an editor may do these to objects they created (Task/Experiment.owner)


def _authenticated(user):
    return user is not None and user.is_authenticated


def readable_teams(user):
    if not _authenticated(user):
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user)


def readable_experiments(user):
    if not _authenticated(user):
        return Experiment.objects.none()
    return Experiment.objects.filter(team__memberships__user=user)


def readable_tasks(user):
    """The user's teams' tasks plus the shared built-ins."""
    if not _authenticated(user):
        return Task.objects.none()
    return Task.objects.filter(Q(team__memberships__user=user) | Q(team__isnull=True)).distinct()


def team_tasks(team):
    """Tasks an experiment of `team` may use: the team's own and the built-ins."""
    return Task.objects.filter(Q(team=team) | Q(team__isnull=True))


def memberships(user):
    """[(team, role)] of the user, one query per request (cached on the user object;
    `forget(user)` after changing its memberships)."""
    if not _authenticated(user):
        return []
    cached = getattr(user, "_team_memberships", None)
    if cached is None:
        cached = user._team_memberships = [
            (m.team, m.role) for m in Membership.objects.filter(user=user).select_related("team")
            .order_by("-team__personal", "team__name", "team_id")]
    return cached


def forget(user):
    user.__dict__.pop("_team_memberships", None)


def role(user, team):
    """The user's role in the team, or None."""
    if team is None:
        return None
    return next((r for t, r in memberships(user) if t.pk == team.pk), None)


def team_of(obj):
    if isinstance(obj, Team):
        return obj
    return getattr(obj, "team", None)


def can(user, action, obj):
    """May `user` do `action` on `obj` (a Team, Task or Experiment)?"""
    if not _authenticated(user):
        return False
    team = team_of(obj)
    if team is None:  # a built-in task: everyone reads it, nobody changes it
        return action == "read" and isinstance(obj, Task)
    r = role(user, team)
    if r is None:
        return False
    if team.personal and action == "manage":
        return False  # a personal space has exactly one member
    if RANK[r] >= RANK[MIN_ROLE[action]]:
        return True
    return (action in CREATOR_MAY and r == EDITOR and isinstance(obj, (Task, Experiment))
            and obj.owner_id == user.pk)


def require(user, action, obj):
    """403 unless `can`; call it only on an object fetched through a readable queryset
    (which already proves "read": no further query for it)."""
    if action != "read" and not can(user, action, obj):
        raise PermissionDenied(f"Your role in this team cannot {action.replace('_', ' ')} this.")
    return obj


def _pk(value):
    """An id from a URL or a form; anything that is not one is "no such object"."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404("No such object.") from None


def get_experiment_or_404(user, pk, action="read", queryset=None):
    qs = queryset if queryset is not None else readable_experiments(user)
    return require(user, action, get_object_or_404(qs.select_related("team", "train_task", "owner"), pk=_pk(pk)))


def get_task_or_404(user, pk, action="read"):
    return require(user, action, get_object_or_404(readable_tasks(user).select_related("team"), pk=_pk(pk)))


def get_team_or_404(user, pk, action="read"):
    return require(user, action, get_object_or_404(readable_teams(user), pk=_pk(pk)))


def editable_teams(user):
    """Teams the user may create objects in (destination choices for copy / move)."""
    return [t for t, r in memberships(user) if RANK[r] >= RANK[EDITOR]]


def can_move(user, obj, team):
    """Move from the personal space into a team: the object's creator, from their own
    personal space, into a team where they may create."""
    return (obj.team is not None and obj.team.personal and obj.owner_id == user.pk
            and role(user, obj.team) == OWNER and not team.personal and can(user, "create", team))
