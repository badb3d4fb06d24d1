"""Writes and look-ups of personal API tokens. A token is shown once, when it is made;
the database keeps its SHA-256 hash (the same hash as share links: teams.models.hash_token)
and its first characters for display."""
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from webapp.lab.text import is_storable_text
from webapp.teams.models import hash_token

from .models import ApiToken

TOKEN_PREFIX = "lab_"  # every token starts with it, so that a leaked one is recognisable
PREFIX_CHARS = 12  # "lab_" + 8 random characters are kept for display
MAX_ACTIVE_TOKENS = 50
USED_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


class TokenError(ValueError):
    """A refused token change, with a message for the user."""


def create_token(user, name):
    """Returns (ApiToken, the token text). The text is never stored."""
    name = (name or "").strip()
    if not name:
        raise TokenError("Give the token a name, e.g. the script or machine that will use it.")
    if len(name) > ApiToken._meta.get_field("name").max_length:
        raise TokenError("Use a name of at most 100 characters.")
    if not is_storable_text(name):
        raise TokenError("The name contains a NUL or an invalid character (a lone surrogate); use plain text.")
    with transaction.atomic():
        active = ApiToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True)
        if len(active) >= MAX_ACTIVE_TOKENS:
            raise TokenError(f"You have {MAX_ACTIVE_TOKENS} active tokens; revoke one you no longer use first.")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 random bits
        row = ApiToken.objects.create(user=user, name=name, prefix=token[:PREFIX_CHARS], token_hash=hash_token(token))
    return row, token


def revoke_token(user, token_id):
    """Revoke one of the user's tokens; False when it was revoked already."""
    return bool(ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True)
                .update(revoked_at=timezone.now()))


def user_for_token(token):
    """The active user of an active token, or None (unknown, revoked, or the account is disabled)."""
    if not token or len(token) > 200 or not token.startswith(TOKEN_PREFIX):
        return None
    row = ApiToken.objects.select_related("user").filter(token_hash=hash_token(token),
                                                         revoked_at__isnull=True).first()
    if row is None or not row.user.is_active:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > USED_EVERY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user
