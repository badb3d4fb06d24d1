"""Personal API tokens: made and revoked in the browser (/account/tokens/), shown once, stored
only as a SHA-256 hash with a short prefix; the API refuses requests without a valid one."""
import hashlib
import re

import pytest
from django.core.management import CommandError, call_command

from webapp.api.models import ApiToken
from webapp.api.services import create_token


def _create(client, name="laptop"):
    response = client.post("/account/tokens/", {"name": name})
    assert response.status_code == 200
    token = re.search(r'id="token-value"[^>]*value="([^"]+)"', response.content.decode()).group(1)
    return response, token


@pytest.mark.django_db
def test_token_shown_once_and_only_its_hash_stored(client_in, user):
    page = client_in.get("/experiments/").content.decode()
    assert 'href="/account/tokens/"' in page  # the header links to the token page
    response, token = _create(client_in)
    assert token.startswith("lab_") and len(token) > 40
    assert "no-cache" in response["Cache-Control"] and response["Referrer-Policy"] == "no-referrer"
    row = ApiToken.objects.get(user=user)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:12] and row.name == "laptop"
    stored = [str(getattr(row, f.attname)) for f in ApiToken._meta.fields]
    assert not any(token in value for value in stored)  # the token itself is nowhere in the row
    again = client_in.get("/account/tokens/").content.decode()
    assert token not in again and row.prefix in again and "laptop" in again and "never" in again
    # no inline script on the page (CSP): every script comes from a static file
    assert all('src="/static/' in tag for tag in re.findall(r"<script[^>]*>", again))

    client_in.logout()
    assert client_in.get("/api/teams/", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None


@pytest.mark.django_db
def test_revoke_asks_first_and_the_token_stops_working(client_in, user, other_user):
    from django.test import Client

    client = Client()
    _, token = _create(client_in)
    row = ApiToken.objects.get(user=user)
    page = client_in.get("/account/tokens/").content.decode()
    assert re.search(rf'<form method="post" action="/account/tokens/{row.pk}/revoke/"[^>]*data-confirm="Revoke', page)
    # another user cannot revoke it (404: nothing said about it)
    client.force_login(other_user)
    assert client.post(f"/account/tokens/{row.pk}/revoke/").status_code == 404
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/teams/", headers=auth).status_code == 200
    response = client_in.post(f"/account/tokens/{row.pk}/revoke/", follow=True)
    assert "revoked" in response.content.decode()
    row.refresh_from_db()
    assert row.revoked_at is not None
    refused = client.get("/api/teams/", headers=auth)
    assert refused.status_code == 401 and "unknown or revoked" in refused.json()["detail"]
    assert row.prefix not in client_in.get("/account/tokens/").content.decode()  # the list shows active ones


@pytest.mark.django_db
def test_token_name_is_required(client_in):
    response = client_in.post("/account/tokens/", {"name": "  "})
    assert response.status_code == 400 and "Give the token a name" in response.content.decode()
    response = client_in.post("/account/tokens/", {"name": "x" * 101})
    assert response.status_code == 400 and "at most 100 characters" in response.content.decode()
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_the_api_needs_a_valid_token(client, user, django_user_model):
    response = client.get("/api/tasks/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert "/account/tokens/" in response.json()["detail"]
    for header in ("Bearer lab_made-up", "Bearer ", "Basic dXNlcjpwdw==", "Token abc"):
        assert client.get("/api/tasks/", headers={"Authorization": header}).status_code == 401, header
    _, token = create_token(user, "cli")
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/tasks/", headers=auth).status_code == 200
    user.is_active = False  # a disabled account's tokens stop working
    user.save()
    assert client.get("/api/tasks/", headers=auth).status_code == 401


@pytest.mark.django_db
def test_api_token_command(user, client, capsys):
    call_command("api_token", "alice", "--name", "ci")
    token = capsys.readouterr().out.strip()
    assert ApiToken.objects.get(user=user).name == "ci"
    assert client.get("/api/teams/", headers={"Authorization": f"Bearer {token}"}).json()["count"] == 1
    with pytest.raises(CommandError, match='No user "nobody"'):
        call_command("api_token", "nobody")
