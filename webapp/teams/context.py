"""Template context: the header's team switcher (current team, the user's teams, role) and
the teams where the user may launch (the offer to switch, templates/teams/_other_team.html)."""


def teams(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return {}
    from .permissions import editable_teams, memberships, role
    from .services import current_team

    team = current_team(request)
    return {"current_team": team, "my_teams": [t for t, _ in memberships(user)], "current_role": role(user, team),
            "launch_team_ids": {t.pk for t in editable_teams(user)}}
