"""The route-by-role matrix: every URL pattern of the project (enumerated from the URL
resolver) and every websocket route (webapp/lab/routing.py) is requested as anonymous,
viewer, editor and owner of team T, a member of another team, and a share-link holder,
and answers the status in the table below. A route missing from the table fails the
test, so a route added later must state its access rule here.

Codes: L = redirect to sign-in; 200/302 (success or a redirect after a refused change
with a message)/403 (a member whose role cannot)/404 (not in the user's teams, or no such
object). Every POST runs inside a rolled-back transaction, so checks do not affect each
other. The admin (Django's, staff only) is one family rule: every admin route sends a
non-staff user to the admin sign-in."""
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
}
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


def _url(route, w, token=None):
    """The route with the world's team-T objects filled in."""
    o = w.objects
    pk = {"tasks/": o["task"].pk, "experiments/": o["exp"].pk, "teams/": o["team"].pk}
    values = {
        "pk": next((v for p, v in pk.items() if route.startswith(p)), None),
        "ex_id": o["example"].pk, "run_id": o["queued"].pk, "member_id": o["viewer_membership"].pk,
        "link_id": o["link"].pk, "token": token or w.tokens["valid"], "what": "metrics.csv",
    }
    if route == "tasks/<int:pk>/delete/":
        values["pk"] = o["unused"].pk
    if route.endswith("adapter.zip"):
        values["run_id"] = o["done"].pk
    url = "/" + route
    for conv in ("int:", "str:"):
        for name, value in values.items():
            url = url.replace(f"<{conv}{name}>", str(value))
    assert "<" not in url, url
    if route.endswith("examples.json"):
        url += f"?eval_task={o['task'].name}&n=4&seed=0"
    return url


def _data(route, w):
    t = w.objects["team"].pk
    return {
        "teams/switch/": {"team": t}, "teams/<int:pk>/invite/": {"who": "newbie", "role": "viewer"},
        "teams/<int:pk>/members/<int:member_id>/role/": {"role": "editor"},
        "experiments/<int:pk>/copy/": {"team": t}, "experiments/<int:pk>/move/": {"team": t},
        "tasks/<int:pk>/move/": {"team": t}, "tasks/<int:pk>/examples/add/": {"input": "x", "output": "positive"},
        "experiments/<int:pk>/share/": {"label": "matrix"},
    }.get(route, {})


def _request(client, method, url, data):
    if method == "GET":
        return client.get(url)
    with transaction.atomic():
        response = client.post(url, data)
        transaction.set_rollback(True)
    return response


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
    routes = sorted(all_routes(), key=lambda r: TABLE.get(r, ("GET",))[0] != "GET")
    for route in routes:
        if route.startswith(ADMIN_PREFIX):
            continue
        method, codes = TABLE[route]
        url = _url(route, w)
        for role, code in zip(ROLES, codes.split()):
            # signing out replaces the client's session cookie: a throwaway client for it
            client = client_for(role, w, Client) if route == "accounts/logout/" else clients[role]
            response = _request(client, method, url, _data(route, w))
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
    print(f"\naccess matrix: {len(TABLE)} routes x {len(ROLES)} roles (+ dead tokens) = {checked} checks")


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
    post_routes = [r for r, (method, _) in TABLE.items() if method == "POST"]
    assert len(post_routes) >= 20
    for route in post_routes:
        response = _request(client, "POST", _url(route, w), _data(route, w))
        assert response.status_code == 403 and b"CSRF" in response.content, route
    anon = Client(enforce_csrf_checks=True)
    for url in ("/accounts/login/", "/accounts/signup/"):
        assert anon.post(url, {"username": "x", "password": "y"}).status_code == 403
