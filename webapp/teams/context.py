"""Template context: the header's team switcher (current team, the user's teams, role)."""


def teams(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not hasattr(request, "session"):
        return {}
    from .permissions import memberships, role
    from .services import current_team

    team = current_team(request)
    return {"current_team": team, "my_teams": [t for t, _ in memberships(user)], "current_role": role(user, team)}
