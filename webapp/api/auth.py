"""How an API request proves who it is.

- `TokenAuth`: `Authorization: Bearer <personal token>` (services.user_for_token). Every
  route accepts it, and every route that changes something accepts only it: a browser never
  sends the header by itself, so the API has no cross-site request forgery hole.
- `SessionReadAuth`: the browser's sign-in session, for reads only (GET/HEAD), so the
  documentation page's "Try it out" works for reads while signed in.

Both put the user on `request.user`, so the permission rules (webapp/teams/permissions.py)
and `current_team` see them like a page does.
"""
from django.conf import settings
from ninja.security import APIKeyCookie, HttpBearer

from .services import user_for_token

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TokenAuth(HttpBearer):
    def authenticate(self, request, token):
        user = user_for_token(token.strip())
        if user is not None:
            request.user = user
        return user


class SessionReadAuth(APIKeyCookie):
    """The signed-in session, for safe methods only (ninja asks it when no token matched).
    No CSRF check is needed: it never authenticates a request that changes anything."""

    param_name = settings.SESSION_COOKIE_NAME

    def __init__(self):
        super().__init__(csrf=False)

    def authenticate(self, request, key):
        if request.method not in SAFE_METHODS or not key or request.headers.get("Authorization"):
            return None  # a request that sends a token is judged by its token alone
        user = getattr(request, "user", None)
        return user if user is not None and user.is_authenticated else None


token_auth = TokenAuth()
READ_AUTH = [token_auth, SessionReadAuth()]  # the default of every route (main.py)
WRITE_AUTH = [token_auth]  # routes that change something say auth=WRITE_AUTH
