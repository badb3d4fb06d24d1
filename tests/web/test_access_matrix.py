"""The route-by-role matrix: every URL pattern of the project (enumerated from the URL
resolver) and every websocket route (webapp/lab/routing.py) is requested as anonymous,
viewer, editor and owner of team T, a member of another team, and a share-link holder,
and answers the status in the table below. A route missing from the table fails the
test, so a route added later must state its access rule here.

Codes: L = redirect to sign-in; 200/302 (success or a redirect after a refused change
with a message)/403 (a member whose role cannot)/404 (not in the user's teams, or no such
object). Every POST runs inside a rolled-back transaction, so checks do not affect each
other. The admin (Django's, staff only) is one family rule: every admin route sends a
non-staff user to the admin sign-in.

The REST API (api/...) answers JSON, never a redirect: a route there may list several methods,
and each request also carries the role's personal API token (`Authorization: Bearer`), so
its codes are the token's: 401 without one (anon, share), then 200/201/204 (done), 403, 404,
409 (refused by the object's state) as above. Without a token a signed-in session may only
read the API (test_api_writes_need_a_token)."""
import json

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from webapp.lab.routing import websocket_urlpatterns

from .teams_world import ROLES, build_world, client_for

#   route pattern: (method, codes for anon viewer editor owner outsider share)
TABLE = {
    "": ("GET", "302 302 302 302 302 302"),  # home: redirects to the experiment list
    "accounts/login/": ("GET", "200 200 200 200 200 200"),
    "accounts/logout/": ("POST", "302 302 302 302 302 302"),
    "accounts/signup/": ("GET", "200 302 302 302 302 200"),
    "tasks/": ("GET", "L 200 200 200 200 L"),
    "tasks/new/": ("GET", "L 403 200 200 200 L"),
    "tasks/<int:pk>/": ("GET", "L 200 200 200 404 L"),
    "tasks/<int:pk>/edit/": ("GET", "L 403 200 200 404 L"),
    "tasks/<int:pk>/delete/": ("POST", "L 403 403 302 404 L"),  # the unused task, created by the owner
    "tasks/<int:pk>/copy/": ("POST", "L 302 302 302 404 L"),  # a viewer copies into their personal space
    "tasks/<int:pk>/examples/add/": ("POST", "L 403 302 302 404 L"),
    "tasks/<int:pk>/examples/<int:ex_id>/edit/": ("GET", "L 403 200 200 404 L"),
    "tasks/<int:pk>/examples/<int:ex_id>/delete/": ("POST", "L 403 302 302 404 L"),
    "tasks/<int:pk>/import/": ("POST", "L 403 302 302 404 L"),
    "tasks/<int:pk>/import-hub/": ("POST", "L 403 302 302 404 L"),
    "tasks/<int:pk>/move/": ("POST", "L 403 403 403 404 L"),  # a team task is not in a personal space
    "tasks/<int:pk>/preview.json": ("GET", "L 200 200 200 404 L"),
    "experiments/": ("GET", "L 200 200 200 200 L"),
    "experiments/new/": ("GET", "L 403 200 200 200 L"),
    "experiments/<int:pk>/": ("GET", "L 200 200 200 404 L"),
    "experiments/<int:pk>/cancel/": ("POST", "L 403 302 302 404 L"),
    "experiments/<int:pk>/runs/<int:run_id>/cancel/": ("POST", "L 403 302 302 404 L"),
    "experiments/<int:pk>/runs/<int:run_id>/retry/": ("POST", "L 403 302 302 404 L"),
    "experiments/<int:pk>/history.json": ("GET", "L 200 200 200 404 L"),
    "experiments/<int:pk>/results.json": ("GET", "L 200 200 200 404 L"),
    "experiments/<int:pk>/examples.json": ("GET", "L 200 200 200 404 L"),
    "experiments/<int:pk>/runs/<int:run_id>/adapter.zip": ("GET", "L 200 200 200 404 L"),  # the done run's
    "experiments/<int:pk>/export/<str:what>": ("GET", "L 200 200 200 404 L"),  # metrics.csv
    # the comparison holds only runs of the user's teams (the outsider sees their own, none of T's)
    "compare/": ("GET", "L 200 200 200 200 L"),
    "compare/data.json": ("GET", "L 200 200 200 200 L"),
    "compare/export/<str:what>": ("GET", "L 200 200 200 200 L"),  # metrics.csv
    "experiments/<int:pk>/delete/": ("POST", "L 403 302 302 404 L"),  # the editor launched it
    "experiments/<int:pk>/copy/": ("POST", "L 403 302 302 404 L"),
    "experiments/<int:pk>/move/": ("POST", "L 403 403 403 404 L"),
    "experiments/<int:pk>/share/": ("POST", "L 403 200 200 404 L"),  # 200: the token, shown once
    "experiments/<int:pk>/share/<int:link_id>/revoke/": ("POST", "L 403 302 302 404 L"),
    "teams/": ("GET", "L 200 200 200 200 L"),
    "teams/switch/": ("POST", "L 302 302 302 404 L"),
    "teams/<int:pk>/": ("GET", "L 200 200 200 404 L"),
    "teams/<int:pk>/invite/": ("POST", "L 403 403 302 404 L"),
    "teams/<int:pk>/members/<int:member_id>/role/": ("POST", "L 403 403 302 404 L"),
    "teams/<int:pk>/members/<int:member_id>/remove/": ("POST", "L 403 403 302 404 L"),
    "teams/<int:pk>/leave/": ("POST", "L 302 302 302 404 L"),  # the last owner's leave is refused (tested apart)
    "teams/<int:pk>/audit/": ("GET", "L 403 403 200 404 L"),
    # share links: the token is the credential, whoever holds it (no session needed)
    "s/<str:token>/": ("GET", "200 200 200 200 200 200"),
    "s/<str:token>/history.json": ("GET", "200 200 200 200 200 200"),
    "s/<str:token>/results.json": ("GET", "200 200 200 200 200 200"),
    "s/<str:token>/examples.json": ("GET", "200 200 200 200 200 200"),
    "s/<str:token>/runs/<int:run_id>/adapter.zip": ("GET", "200 200 200 200 200 200"),
    # personal API tokens: each user sees and revokes only their own (the owner's token here)
    "account/tokens/": ("GET", "L 200 200 200 200 L"),
    "account/tokens/<int:token_id>/revoke/": ("POST", "L 404 404 302 404 L"),
    # the REST API (webapp/api): the role's token is sent (see above)
    "api/": ("GET", "404 404 404 404 404 404"),  # no index page (ninja's answers only with DEBUG)
    "api/openapi.json": ("GET", "200 200 200 200 200 200"),  # the schema and its docs page are public
    "api/docs": ("GET", "200 200 200 200 200 200"),
    "api/teams/": ("GET", "401 200 200 200 200 401"),
    "api/tasks/": [("GET", "401 200 200 200 200 401"), ("POST", "401 403 201 201 404 401")],  # into team T
    "api/tasks/<int:task_id>/": [("GET", "401 200 200 200 404 401"), ("PATCH", "401 403 200 200 404 401"),
                                 ("DELETE", "401 403 403 204 404 401")],  # the unused task, created by the owner
    "api/tasks/<int:task_id>/examples/": [("GET", "401 200 200 200 404 401"), ("POST", "401 403 201 201 404 401")],
    "api/tasks/<int:task_id>/examples/bulk/": ("POST", "401 403 201 201 404 401"),
    "api/tasks/<int:task_id>/examples/<int:example_id>/": [("PATCH", "401 403 200 200 404 401"),
                                                           ("DELETE", "401 403 204 204 404 401")],
    "api/tasks/<int:task_id>/import/": ("POST", "401 403 200 200 404 401"),
    "api/experiments/": [("GET", "401 200 200 200 200 401"), ("POST", "401 403 201 201 404 401")],  # in team T
    "api/experiments/validate/": ("POST", "401 403 200 200 404 401"),
    "api/experiments/<int:experiment_id>/": [("GET", "401 200 200 200 404 401"),
                                             ("DELETE", "401 403 204 204 404 401")],  # the editor launched it
    "api/experiments/<int:experiment_id>/cancel/": ("POST", "401 403 200 200 404 401"),
    "api/experiments/<int:experiment_id>/clone/": ("GET", "401 200 200 200 404 401"),  # the settings of a run-again
    "api/experiments/<int:experiment_id>/results/": ("GET", "401 200 200 200 404 401"),
    "api/experiments/<int:experiment_id>/runs/": ("GET", "401 200 200 200 404 401"),
    "api/experiments/<int:experiment_id>/runs/<int:run_id>/": ("GET", "401 200 200 200 404 401"),
    "api/experiments/<int:experiment_id>/runs/<int:run_id>/predictions/": ("GET", "401 200 200 200 404 401"),
    "api/experiments/<int:experiment_id>/runs/<int:run_id>/adapter.zip": ("GET", "401 200 200 200 404 401"),
    "api/experiments/<int:experiment_id>/runs/<int:run_id>/cancel/": ("POST", "401 403 200 200 404 401"),
    # the queued run cannot be retried (only a failed or cancelled one): 409 once the role may
    "api/experiments/<int:experiment_id>/runs/<int:run_id>/retry/": ("POST", "401 403 409 409 404 401"),
    "api/experiments/<int:experiment_id>/export/<str:what>": ("GET", "401 200 200 200 404 401"),  # metrics.csv
    # share links: the page's rule (editor and owner share; a viewer may not even list them)
    "api/experiments/<int:experiment_id>/share-links/": [("GET", "401 403 200 200 404 401"),
                                                         ("POST", "401 403 201 201 404 401")],
    "api/share-links/<int:link_id>/": ("DELETE", "401 403 204 204 404 401"),  # the active link, made by the editor
    # comparisons hold only runs of the user's teams (the outsider's answer holds none of T's)
    "api/comparisons/": ("GET", "401 200 200 200 200 401"),
    "api/comparisons/paired/": ("GET", "401 200 200 200 200 401"),  # ?a=sft&b=icl
    "api/comparisons/examples/": ("GET", "401 200 200 200 200 401"),
    "api/comparisons/facets/": ("GET", "401 200 200 200 200 401"),
    "api/comparisons/export/<str:what>": ("GET", "401 200 200 200 200 401"),  # metrics.csv
}
API_PREFIX = "api/"


def entries(route):
    """[(method, codes)] of a route (API routes may list several methods)."""
    value = TABLE[route]
    return value if isinstance(value, list) else [value]
SHARE_ROUTES = [r for r in TABLE if r.startswith("s/")]
ADMIN_PREFIX = "admin/"

# websocket route: connection accepted? (anon viewer editor owner outsider share)
WS_TABLE = {"ws/experiments/<int:pk>/": "no yes yes yes no no"}


def all_routes(patterns=None, prefix=""):
    patterns = get_resolver().url_patterns if patterns is None else patterns
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from all_routes(p.url_patterns, prefix + str(p.pattern))
        else:
            assert isinstance(p, URLPattern)
            yield prefix + str(p.pattern)


def test_every_route_is_in_the_table():
    routes = list(all_routes())
    missing = [r for r in routes if not r.startswith(ADMIN_PREFIX) and r not in TABLE]
    assert not missing, f"routes without an access rule in TABLE: {missing}"
    stale = [r for r in TABLE if r not in routes]
    assert not stale, f"TABLE lists routes that no longer exist: {stale}"
    ws = [str(p.pattern) for p in websocket_urlpatterns]
    assert sorted(ws) == sorted(WS_TABLE), "every websocket route needs a row in WS_TABLE"


def _url(route, w, token=None, method="GET"):
    """The route with the world's team-T objects filled in."""
    o = w.objects
    pk = {"tasks/": o["task"].pk, "experiments/": o["exp"].pk, "teams/": o["team"].pk}
    values = {
        "pk": next((v for p, v in pk.items() if route.startswith(p)), None),
        "ex_id": o["example"].pk, "run_id": o["queued"].pk, "member_id": o["viewer_membership"].pk,
        "link_id": o["link"].pk, "token": token or w.tokens["valid"], "token_id": o["owner_api_token"].pk,
        "task_id": o["task"].pk, "example_id": o["example"].pk, "experiment_id": o["exp"].pk,
        "what": "metrics.csv",
    }
    if route == "tasks/<int:pk>/delete/" or (route == "api/tasks/<int:task_id>/" and method == "DELETE"):
        values["pk"] = values["task_id"] = o["unused"].pk
    if route.endswith(("adapter.zip", "/predictions/")) or route == "api/experiments/<int:experiment_id>/runs/<int:run_id>/":
        values["run_id"] = o["done"].pk
    url = "/" + route
    for conv in ("int:", "str:"):
        for name, value in values.items():
            url = url.replace(f"<{conv}{name}>", str(value))
    assert "<" not in url, url
    if route.endswith("examples.json"):
        url += f"?eval_task={o['task'].name}&n=4&seed=0"
    if route == "api/comparisons/paired/":
        url += "?a=sft&b=icl"
    return url


def _data(route, w, method="POST"):
    t = w.objects["team"].pk
    if route.startswith(API_PREFIX):
        return _api_body(route, method, w)
    return {
        "teams/switch/": {"team": t}, "teams/<int:pk>/invite/": {"who": "newbie", "role": "viewer"},
        "teams/<int:pk>/members/<int:member_id>/role/": {"role": "editor"},
        "experiments/<int:pk>/copy/": {"team": t}, "experiments/<int:pk>/move/": {"team": t},
        "tasks/<int:pk>/move/": {"team": t}, "tasks/<int:pk>/examples/add/": {"input": "x", "output": "positive"},
        "experiments/<int:pk>/share/": {"label": "matrix"},
    }.get(route, {})


def _api_body(route, method, w):
    """A valid body for each API write (JSON, or the import's multipart form)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    o = w.objects
    launch = {"team": o["team"].pk, "train_task": o["task"].pk, "methods": ["icl"], "n_values": [4], "eval_size": 4,
              "confirm_unreadable": True}
    return {
        ("api/tasks/", "POST"): {"team": o["team"].pk, "name": "matrix", "labels": ["positive", "negative"]},
        ("api/tasks/<int:task_id>/", "PATCH"): {"description": "changed by the matrix"},
        ("api/tasks/<int:task_id>/examples/", "POST"): {"input": "x", "output": "positive"},
        ("api/tasks/<int:task_id>/examples/bulk/", "POST"): {"examples": [{"input": "x", "output": "positive"}]},
        ("api/tasks/<int:task_id>/examples/<int:example_id>/", "PATCH"): {"input": "y"},
        ("api/tasks/<int:task_id>/import/", "POST"): {"file": SimpleUploadedFile("x.csv", b"input,output\nx,positive\n")},
        ("api/experiments/", "POST"): launch,
        ("api/experiments/validate/", "POST"): launch,
        ("api/experiments/<int:experiment_id>/share-links/", "POST"): {"label": "matrix", "expires_in_days": 7},
    }.get((route, method), {})


def _request(client, method, url, data, headers=None):
    headers = headers or {}
    if method == "GET":
        return client.get(url, headers=headers)
    with transaction.atomic():
        if not url.startswith("/" + API_PREFIX):
            response = client.post(url, data, headers=headers)
        elif any(hasattr(v, "read") for v in data.values()):  # a file upload: multipart
            response = client.post(url, data, headers=headers)
        else:
            response = client.generic(method, url, json.dumps(data), content_type="application/json", headers=headers)
        transaction.set_rollback(True)
    return response


def _token_header(route, role, w):
    if route.startswith(API_PREFIX) and role in w.api_tokens:
        return {"Authorization": f"Bearer {w.api_tokens[role]}"}
    return {}


def _check(response, code):
    if code == "L":
        return response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    return response.status_code == int(code)


@pytest.mark.django_db
def test_route_by_role_matrix():
    w = build_world()
    clients = {role: client_for(role, w, Client) for role in ROLES}
    failures, checked = [], 0
    # reads first: each write runs in a rolled-back transaction, but a delete also removes
    # files (adapters) from disk, which no rollback restores
    checks = sorted(((route, method, codes) for route in dict.fromkeys(all_routes())
                     if not route.startswith(ADMIN_PREFIX) for method, codes in entries(route)),
                    key=lambda c: c[1] != "GET")
    for route, method, codes in checks:
        url = _url(route, w, method=method)
        for role, code in zip(ROLES, codes.split()):
            # signing out replaces the client's session cookie: a throwaway client for it
            client = client_for(role, w, Client) if route == "accounts/logout/" else clients[role]
            response = _request(client, method, url, _data(route, w, method), _token_header(route, role, w))
            checked += 1
            if not _check(response, code):
                failures.append(f"{method} {url} as {role}: {response.status_code} "
                                f"{response.get('Location', '')}, expected {code}")
    # revoked and expired links, and made-up tokens: 404 for everybody on every share route
    for route in SHARE_ROUTES:
        for token in (w.tokens["revoked"], w.tokens["expired"], w.tokens["valid"][:-2] + "xx"):
            for role in ROLES:
                response = clients[role].get(_url(route, w, token))
                checked += 1
                if response.status_code != 404:
                    failures.append(f"{route} with a dead token as {role}: {response.status_code}")
    assert not failures, "\n".join(failures)
    print(f"\naccess matrix: {len(TABLE)} routes ({len(checks)} route-methods) x {len(ROLES)} roles (+ dead "
          f"tokens) = {checked} checks")


@pytest.mark.django_db
def test_admin_routes_send_non_staff_to_admin_sign_in():
    w = build_world()
    clients = {role: client_for(role, w, Client) for role in ROLES}
    failures, checked = [], 0
    for route in all_routes():
        if not route.startswith(ADMIN_PREFIX) or route.startswith("admin/login/"):
            continue
        checked += len(ROLES)
        url = "/" + route
        for token, value in (("<path:content_type_id>", "1"), ("<path:object_id>", str(w.objects["exp"].pk)),
                             ("<id>", "1"), ("^(?P<app_label>auth|lab)/$", "lab/"), ("(?P<url>.*)$", "x/")):
            url = url.replace(token, value)
        method = "POST" if route == "admin/logout/" else "GET"
        for role in ROLES:
            if route == "admin/logout/":  # signing out needs no rights (it ends the session): back to /admin/
                response = _request(client_for(role, w, Client), method, url, {})
                ok = response.status_code == 302 and response["Location"] == "/admin/"
            else:
                response = _request(clients[role], method, url, {})
                ok = response.status_code == 302 and "/admin/login/" in response["Location"]
            if not ok:
                failures.append(f"{method} {url} as {role}: {response.status_code}")
    assert not failures, "\n".join(failures)
    print(f"\nadmin family: {checked // len(ROLES)} routes x {len(ROLES)} roles = {checked} checks")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_websocket_routes_by_role():
    from channels.db import database_sync_to_async
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator
    from django.contrib.auth.models import AnonymousUser

    w = await database_sync_to_async(build_world)()  # closes its thread's connection
    for route, answers in WS_TABLE.items():
        for exp_key in ("exp", "u_exp"):  # team T's experiment, then team U's
            path = "/" + route.replace("<int:pk>", str(w.objects[exp_key].pk))
            for role, answer in zip(ROLES, answers.split()):
                expect = answer == "yes"
                if exp_key == "u_exp":  # team U's experiment: only its own member (the outsider)
                    expect = role == "outsider"
                comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
                comm.scope["user"] = w.users[role] if role in w.users else AnonymousUser()
                connected, _ = await comm.connect()
                await comm.disconnect()
                assert connected == expect, (path, role)
    # a guessed id answers like a foreign one
    comm = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/experiments/{w.objects['u_exp'].pk + 999}/")
    comm.scope["user"] = w.users["owner"]
    connected, _ = await comm.connect()
    await comm.disconnect()
    assert not connected


@pytest.mark.django_db
def test_every_form_needs_the_csrf_token():
    """Each POST route refuses a request without Django's CSRF token (as the owner, who may do everything)."""
    w = build_world()
    client = client_for("owner", w, lambda: Client(enforce_csrf_checks=True))
    post_routes = [r for r in TABLE if not r.startswith(API_PREFIX) and entries(r)[0][0] == "POST"]
    assert len(post_routes) >= 20
    for route in post_routes:
        response = _request(client, "POST", _url(route, w), _data(route, w))
        assert response.status_code == 403 and b"CSRF" in response.content, route
    anon = Client(enforce_csrf_checks=True)
    for url in ("/accounts/login/", "/accounts/signup/"):
        assert anon.post(url, {"username": "x", "password": "y"}).status_code == 403


@pytest.mark.django_db
def test_api_writes_need_a_token():
    """A signed-in session (even with a valid CSRF token) may read the API but never change
    anything through it: every API write answers 401 without a personal token, and nothing
    changes; the same session reads."""
    from django.middleware.csrf import get_token
    from django.test import RequestFactory

    w = build_world()
    client = client_for("owner", w, lambda: Client(enforce_csrf_checks=True))
    csrf = get_token(RequestFactory().get("/"))
    client.cookies["csrftoken"] = csrf
    writes = [(r, m) for r in TABLE if r.startswith(API_PREFIX) for m, _ in entries(r) if m != "GET"]
    assert len(writes) >= 14
    for route, method in writes:
        response = _request(client, method, _url(route, w, method=method), _data(route, w, method),
                            {"X-CSRFToken": csrf})
        assert response.status_code == 401, (route, method, response.status_code)
        assert "token" in response.json()["detail"]
    assert client.get(f"/api/experiments/{w.objects['exp'].pk}/").status_code == 200
