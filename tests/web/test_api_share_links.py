"""Share links through the REST API (issue 22): create, list and revoke with a real personal
token, under the page's rules (permissions.py's "share", the page form's bounds, the per-user
cap of teams/services.py, the same audit records), and the link then opens, then stops
opening, the anonymous share page. Role-by-route codes are in test_access_matrix.py."""
import json
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.utils import timezone

from webapp.teams import permissions
from webapp.teams.models import AuditEvent, ShareLink, hash_token

from .teams_world import build_world
from .test_api import Api


@pytest.fixture
def world(db):
    return build_world()


def _links(w):
    return f"/experiments/{w.objects['exp'].pk}/share-links/"


@pytest.mark.django_db
def test_create_list_revoke_and_the_link_opens_then_stops(world):
    w, api, anon = world, Api(token=world.api_tokens["editor"]), Client()
    created = api("POST", _links(w), {"label": "reviewers 2", "expires_in_days": 7})
    assert created.status_code == 201, created.content
    assert "no-store" in created["Cache-Control"]
    body = created.json()
    token, path = body["token"], urlparse(body["url"]).path
    assert path == f"/s/{token}/" and body["active"] and body["created_by"] == "editor-u"
    link = ShareLink.objects.get(pk=body["id"])
    assert timedelta(days=6, hours=23) < link.expires_at - timezone.now() <= timedelta(days=7)
    assert link.token_hash == hash_token(token) and token not in json.dumps(list(ShareLink.objects.values()),
                                                                              default=str)
    assert anon.get(path).status_code == 200
    assert AuditEvent.objects.filter(verb="share", details__link=link.pk, actor=w.users["editor"]).count() == 1

    listed = api("GET", _links(w)).json()
    assert listed["count"] == 4  # the world's active, revoked and expired links, and this one
    mine = next(i for i in listed["items"] if i["id"] == link.pk)
    assert mine["active"] and mine["label"] == "reviewers 2" and "token" not in mine
    assert {i["label"]: i["active"] for i in listed["items"]} == {"reviewers 2": True, "reviewers": True,
                                                                  "old": False, "short": False}

    # the owner revokes the editor's link (both may share): the page stops opening, once audited
    owner = Api(token=w.api_tokens["owner"])
    assert owner("DELETE", f"/share-links/{link.pk}/").status_code == 204
    assert anon.get(path).status_code == 404
    assert owner("DELETE", f"/share-links/{link.pk}/").status_code == 204  # already revoked: nothing changes
    assert AuditEvent.objects.filter(verb="revoke", details__link=link.pk).count() == 1
    after = next(i for i in api("GET", _links(w)).json()["items"] if i["id"] == link.pk)
    assert not after["active"] and after["revoked_at"]


@pytest.mark.django_db
def test_who_may_share_is_asked_of_permissions(world):
    """A viewer gets permissions.py's own refusal (403), an outsider 404 for the experiment
    and for a link id of it, and neither creates or revokes anything."""
    w = world
    viewer, outsider = Api(token=w.api_tokens["viewer"]), Api(token=w.api_tokens["outsider"])
    before = ShareLink.objects.count()
    refused = viewer("POST", _links(w), {"label": "mine"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == permissions.refusal(w.users["viewer"], "share", w.objects["exp"])
    assert viewer("GET", _links(w)).status_code == 403
    assert viewer("DELETE", f"/share-links/{w.objects['link'].pk}/").status_code == 403
    for method, path, body in (("GET", _links(w), None), ("POST", _links(w), {"label": "x"}),
                               ("DELETE", f"/share-links/{w.objects['link'].pk}/", None)):
        answer = outsider(method, path, body)
        assert answer.status_code == 404, (method, path)
    assert ShareLink.objects.count() == before and w.objects["link"].active
    assert Client().get(f"/s/{w.tokens['valid']}/").status_code == 200
    editor = Api(token=w.api_tokens["editor"])
    for link_id in (w.objects["link"].pk + 10_000, 2**63 + 1):  # no such link (past a bigint too): 404
        assert editor("DELETE", f"/share-links/{link_id}/").status_code == 404


@pytest.mark.django_db
def test_the_cap_answers_409_with_the_services_message(world, settings):
    w, api = world, Api(token=world.api_tokens["editor"])
    settings.LAB_MAX_SHARE_LINKS_PER_USER = 2  # the editor has one live link (and a revoked and an expired one)
    assert api("POST", _links(w), {"label": "second"}).status_code == 201
    refused = api("POST", _links(w), {"label": "third"})
    assert refused.status_code == 409
    assert "LAB_MAX_SHARE_LINKS_PER_USER = 2" in refused.json()["detail"]
    assert "revoke links you no longer need" in refused.json()["detail"]
    assert not ShareLink.objects.filter(label="third").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body, field", [
    ({"expires_in_days": "soon"}, "expires_in_days"),
    ({"expires_in_days": 0}, "expires_in_days"),
    ({"expires_in_days": 3651}, "expires_in_days"),
    ({"expires_in_days": -3}, "expires_in_days"),
    ({"label": "x" * 121}, "label"),
    ({"label": "a\x00b"}, "label"),
    ({"expiry": "7d"}, "expiry"),
])
def test_bad_input_answers_422_naming_the_field(world, body, field):
    w, api = world, Api(token=world.api_tokens["editor"])
    before = ShareLink.objects.count()
    answer = api("POST", _links(w), body)
    assert answer.status_code == 422, answer.content
    assert field in answer.json()["errors"] and answer.json()["detail"].startswith(field)
    assert ShareLink.objects.count() == before


@pytest.mark.django_db
def test_the_list_is_paginated_and_a_session_may_read_it(world):
    w, api = world, Api(token=world.api_tokens["owner"])
    page = api("GET", _links(w) + "?limit=2").json()
    assert (len(page["items"]), page["count"], page["next"]) == (2, 3, 2)
    assert len(api("GET", _links(w) + "?limit=2&offset=2").json()["items"]) == 1
    session = Client()
    session.force_login(w.users["editor"])
    assert session.get("/api" + _links(w)).json()["count"] == 3
    assert session.post("/api" + _links(w), {}, content_type="application/json").status_code == 401
