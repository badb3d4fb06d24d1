"""Helpers shared by the routers: the team a new object goes into, and driving a Django
form from a JSON body so that the API validates exactly like the pages (the task routes;
experiments map their body to the experiment spec instead, routers/experiments.py)."""
from django.http import QueryDict

from webapp.teams import permissions
from webapp.teams.services import current_team

from .errors import invalid


def target_team(request, team_id, action):
    """The team to create in: `team_id` when given (404 outside the user's teams, 403 for a
    role that cannot), else the team the web would use (the header's current team, which
    for a token without a browser session is the personal space)."""
    if team_id is not None:
        return permissions.get_team_or_404(request.user, team_id, action)
    return permissions.require(request.user, action, current_team(request))


def form_data(values):
    """A QueryDict as a browser would post it: lists become repeated keys, None is left out,
    booleans become "on" (checked) or absent."""
    data = QueryDict(mutable=True)
    for key, value in values.items():
        if value is None or value is False:
            continue
        if value is True:
            data[key] = "on"
        elif isinstance(value, (list, tuple)):
            data.setlist(key, [str(v) for v in value])
        else:
            data[key] = str(value)
    return data


def check_form(form, rename=None):
    """Raise 422 with the form's own messages ({field: [messages]}) unless it is valid."""
    if not form.is_valid():
        rename = rename or {}
        raise invalid({rename.get(k, k): v for k, v in form.errors.items()})
    return form.cleaned_data
