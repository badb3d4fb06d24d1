"""How an API request proves who it is.

- `TokenAuth`: `Authorization: Bearer <personal token>` (services.user_for_token). Every
  route accepts it, and every route that changes something accepts only it: a browser never
  sends the header by itself, so the API has no cross-site request forgery hole.
- `SessionReadAuth`: the browser's sign-in session, where permissions.session_reads_api
  allows it (reads only, and only without a token), so the documentation page's
  "Try it out" works for reads while signed in.

Both put the user on `request.user`, so the permission rules (webapp/teams/permissions.py)
and `current_team` see them like a page does. This module only says who is asking; what
they may do is decided in permissions.py.
"""
from django.conf import settings
from ninja.security import APIKeyCookie, HttpBearer

from webapp.teams.permissions import session_reads_api

from .services import user_for_token


class TokenAuth(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_token(token.strip())
        if user is not None:
            request.user = user
        return user


class SessionReadAuth(APIKeyCookie):
    """The signed-in session, where permissions.session_reads_api allows it (ninja asks it
    when no token matched). No CSRF check is needed: it never authenticates a request that
    changes anything."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self):
        super().__init__(csrf=False)

    def authenticate(self, request, key):
        if not key or not session_reads_api(request):
            return None
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else None


token_auth = TokenAuth()
READ_AUTH = [token_auth, SessionReadAuth()]  # the default of every route (main.py)
WRITE_AUTH = [token_auth]  # routes that change something say auth=WRITE_AUTH
