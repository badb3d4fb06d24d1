"""THE permission rules of the project: who may read or do what with which object.

Every view, JSON endpoint, download, share page, REST API route, team service and the
websocket consumer asks this module, and nothing else decides access:

- `readable_experiments(user)` / `readable_tasks(user)` / `readable_teams(user)` are the
  querysets a user can see. Views fetch objects with `get_object_or_404` over them, so an
  object of another team answers 404 (never 403, which would confirm it exists), whether
  its id is in the URL, guessed, or posted inside a form.
- `can(user, action, obj)` decides what a member may do with an object they can read.
  A refusal there answers 403: the member already knows the object exists; `refusal`
  gives the sentence that says why (the team services raise it as their TeamError).
- A personal space has exactly one member: nobody manages its members or leaves it
  (`NOT_IN_PERSONAL`). Built-in tasks are read-only: any other action on one is 404.
- `shared_link(token)`: the share link a token opens (active: not revoked, not expired),
  which lets anyone read that one experiment's page and JSON, and nothing else.
- `session_reads_api(request)`: a browser's sign-in session authenticates the REST API for
  reads only; everything else needs a personal token (webapp/api/auth.py asks this).
- `can_watch(user, experiment_id)`: the websocket's check, read fresh from the database.

Roles: owner (everything, including members, roles and deletes), editor (create, edit,
launch, cancel, share; delete what they created), viewer (read only). Built-in tasks
(team NULL) are readable by every signed-in user and writable by nobody.
"""
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404

from webapp.lab.models import Experiment, Task

from .models import Membership, ShareLink, Team, hash_token

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
    "leave": VIEWER,  # leave a team (obj: the team)
}
CREATOR_MAY = {"delete"}  # an editor may do these to objects they created (Task/Experiment.owner)
# a personal space has exactly one member, its creator: these are refused there, for any role
NOT_IN_PERSONAL = {
    "manage": "A personal space has one member; create a team to share.",
    "leave": "You cannot leave your personal space.",
}
BUILTIN_READ_ONLY = "Built-in tasks are read-only: make a copy to edit it."


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
    if team.personal and action in NOT_IN_PERSONAL:
        return False
    if RANK[r] >= RANK[MIN_ROLE[action]]:
        return True
    return (action in CREATOR_MAY and r == EDITOR and isinstance(obj, (Task, Experiment))
            and obj.owner_id == user.pk)


def refusal(user, action, obj):
    """None when `can(user, action, obj)`, else the sentence telling the user why not."""
    if can(user, action, obj):
        return None
    team = team_of(obj)
    if team is not None and team.personal and action in NOT_IN_PERSONAL and role(user, team) is not None:
        return NOT_IN_PERSONAL[action]
    return f"Your role in this team cannot {action.replace('_', ' ')} this."


def require(user, action, obj):
    """403 unless `can`; call it only on an object fetched through a readable queryset
    (which already proves "read": no further query for it)."""
    if action != "read":
        why = refusal(user, action, obj)
        if why is not None:
            raise PermissionDenied(why)
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
    """A readable task; any other action on a built-in task is 404 (nobody may change one,
    whatever their role: there is nothing to ask a team owner for)."""
    task = get_object_or_404(readable_tasks(user).select_related("team"), pk=_pk(pk))
    if action != "read" and task.team_id is None:
        raise Http404(BUILTIN_READ_ONLY)
    return require(user, action, task)


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


# --- who is asking: share links, API sessions, live pages -------------------------------

MAX_SHARE_TOKEN = 100  # tokens are 43 characters; anything much longer is not one


def shared_link(token):
    """The share link `token` opens, or None: unknown, revoked or expired links open nothing.
    An open link lets anyone holding it read its one experiment (page, JSON, adapters)."""
    if not token or len(token) > MAX_SHARE_TOKEN:
        return None
    link = (ShareLink.objects.select_related("experiment", "experiment__team", "experiment__train_task")
            .filter(token_hash=hash_token(token)).first())
    return link if link is not None and link.active else None


API_SESSION_METHODS = ("GET", "HEAD", "OPTIONS")


def session_reads_api(request):
    """May the browser's sign-in session authenticate this REST API request? Only to read
    (GET/HEAD/OPTIONS), and never when the request sends a token: then the token alone
    decides. So a page of another site cannot make the browser change anything (no CSRF
    hole), and every write needs a personal token."""
    return request.method in API_SESSION_METHODS and not request.headers.get("Authorization")


def can_watch(user, experiment_id):
    """May this user follow the experiment's live events? Read from the database each time
    (a websocket keeps the user object of its handshake): the account must still be active
    and the experiment still readable."""
    return (_authenticated(user) and get_user_model().objects.filter(pk=user.pk, is_active=True).exists()
            and readable_experiments(user).filter(pk=experiment_id).exists())
