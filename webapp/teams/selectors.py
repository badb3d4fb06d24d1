"""Reads of the teams app: the rows the team pages list and what an object's page offers
by role (share, copy, move, delete). Writes are in services.py; every rule of who may do
what is asked of permissions.py."""
from django.shortcuts import get_object_or_404

from . import permissions
from .models import Membership, ShareLink


def team_rows(user):
    """[(team, the user's role, member count)] of the user's teams, for the team list."""
    teams = permissions.readable_teams(user).prefetch_related("memberships")
    roles = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
    return [(t, roles.get(t.pk), t.memberships.count()) for t in teams]


def members(team):
    return team.memberships.select_related("user").order_by("user__username")


def membership_or_404(team, **lookup):
    """One membership of `team` (by `pk` or `user`), 404 when the team has none such."""
    return get_object_or_404(Membership.objects.select_related("user", "team"), team=team, **lookup)


def share_link_or_404(exp, pk):
    """A share link of `exp` (404 for another experiment's link)."""
    return get_object_or_404(ShareLink, pk=pk, experiment=exp)


def share_links(exp):
    """Every share link of `exp` (active, revoked, expired), newest first: the page's table
    and the API's list."""
    return exp.share_links.select_related("created_by")


def users_share_link_or_404(user, pk, action):
    """A share link by id alone (the REST API's revoke): 404 unless its experiment is in the
    user's teams, 403 when their role may not `action` it (permissions.py decides both)."""
    exp_id = ShareLink.objects.filter(pk=pk).values_list("experiment_id", flat=True).first()
    exp = permissions.get_experiment_or_404(user, exp_id, action)
    return share_link_or_404(exp, pk)


def audit_events(team):
    return team.audit_events.all()


def destinations(user, obj):
    """Where the user may copy `obj` (a task or an experiment) and where they may move it."""
    editable = permissions.editable_teams(user)
    return {"copy_teams": editable, "move_teams": [t for t in editable if permissions.can_move(user, obj, t)]}


def experiment_sharing(user, exp):
    """What the experiment page shows of sharing, copying and deleting, by role."""
    can_share = permissions.can(user, "share", exp)
    return {
        "can_share": can_share,
        "can_delete": permissions.can(user, "delete", exp),
        "share_links": list(share_links(exp)) if can_share else [],
        **destinations(user, exp),
    }
