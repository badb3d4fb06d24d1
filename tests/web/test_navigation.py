"""Pages that never strand a user (issue 23, items 3 and 7): styled 403/404/429/500 pages
with the server's reason and ways back, no traceback logged for an expected 403, the header's
team changed only by the user (an object of another team offers the switch), "New experiment"
from a task of another team, the experiment page's section navigation, and the test set-up
(one test database per run, the services it uses in the report header)."""
import logging
import os
import re

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from webapp.lab.models import Experiment
from webapp.teams.models import Team
from webapp.teams.services import SESSION_KEY

from .teams_world import build_world, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def w():
    return build_world()


def as_(role, w):
    return client_for(role, w, Client)


def _current_team(client):
    return client.session.get(SESSION_KEY)


# --- error pages ------------------------------------------------------------------------

def test_a_refusal_is_a_styled_403_with_its_reason_and_ways_back(w):
    page = as_("viewer", w).get(f"/tasks/{w.objects['task'].pk}/edit/")
    body = page.content.decode()
    assert page.status_code == 403
    assert 'id="error-page"' in body and "lab/style.css" in body
    assert "Your role in this team cannot edit this." in body
    assert 'href="/tasks/"' in body and 'href="/"' in body  # ways back
    assert "viewer-u" in body  # the site's header, signed in: not Django's bare page


def test_an_expected_403_logs_one_line_without_a_traceback(w, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        assert as_("viewer", w).get(f"/tasks/{w.objects['task'].pk}/edit/").status_code == 403
    refusals = [r for r in caplog.records if r.name == "django.request" and getattr(r, "status_code", 0) == 403]
    assert len(refusals) == 1
    assert refusals[0].exc_info is None and not refusals[0].exc_text
    assert "cannot edit this" in refusals[0].getMessage()


def test_a_500_is_still_logged_with_its_traceback(rf, caplog):
    """The filter drops tracebacks of refusals only."""
    from django.utils.log import log_response

    request = rf.get("/boom/")
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            log_response("Internal Server Error: %s", request.path, response=type("R", (), {"status_code": 500})(),
                         request=request, exception=exc)
    assert caplog.records[-1].exc_info is not None


def test_a_revoked_share_link_reloads_as_a_styled_404_that_says_why(w):
    page = Client().get(f"/s/{w.tokens['revoked']}/")
    body = page.content.decode()
    assert page.status_code == 404 and 'id="error-page"' in body
    assert "This link does not exist, was revoked or has expired." in body
    assert 'href="/accounts/login/' in body  # no account: a way in, and home


def test_an_unknown_address_is_a_styled_404_without_the_resolvers_name(w):
    body = as_("editor", w).get("/no/such/page/").content.decode()
    assert 'id="error-page"' in body and "Nothing is at this address." in body and "Resolver404" not in body


def test_the_rest_api_keeps_its_json_errors(w):
    client = as_("viewer", w)
    missing = client.get("/api/no-such-route/")
    assert missing.status_code == 404 and missing["Content-Type"].startswith("application/json")
    assert "detail" in missing.json()


def test_too_many_sign_ups_is_a_styled_429(client, settings):
    settings.LAB_SIGNUP_ATTEMPTS_PER_HOUR = 0
    page = client.post("/accounts/signup/", {"username": "x"})
    body = page.content.decode()
    assert page.status_code == 429 and 'id="error-page"' in body and "Too many sign-up attempts" in body


def test_a_server_error_page_needs_no_request_context(rf):
    from django.views.defaults import server_error

    with override_settings(DEBUG=False):
        page = server_error(rf.get("/"))
    body = page.content.decode()
    assert page.status_code == 500 and 'id="error-page"' in body and "logged for its administrator" in body


def test_revoking_a_share_link_asks_first(w):
    body = as_("editor", w).get(f"/experiments/{w.objects['exp'].pk}/").content.decode()
    form = re.search(r'<form[^>]*action="/experiments/\d+/share/\d+/revoke/"[^>]*>', body).group(0)
    assert 'data-confirm="Revoke the share link' in form  # static/lab/forms.js asks; no inline script
    assert "<script>" not in body.replace("<script src=", "")


# --- no silent team switches --------------------------------------------------------------

def test_creating_a_team_keeps_the_current_team(w):
    owner = as_("owner", w)
    before = _current_team(owner)
    assert owner.post("/teams/", {"name": "Fresh"}).status_code == 302
    fresh = Team.objects.get(name="Fresh")
    assert _current_team(owner) == before
    page = owner.get(f"/teams/{fresh.pk}/").content.decode()
    assert 'id="switch-here"' in page  # the switch is offered, not imposed


def test_moving_an_experiment_keeps_the_current_team_and_offers_the_switch(w):
    owner = as_("owner", w)
    personal = Team.objects.get(personal=True, created_by=w.users["owner"])
    owner.post("/teams/switch/", {"team": personal.pk})
    exp = Experiment.objects.create(owner=w.users["owner"], team=personal, name="mine", train_task=w.objects["task"],
                                    methods=["icl"], n_values=[4])
    page = owner.post(f"/experiments/{exp.pk}/move/", {"team": w.objects["team"].pk}, follow=True)
    body = page.content.decode()
    assert _current_team(owner) == personal.pk
    assert 'id="team-offer"' in body and "This experiment is in <strong>T</strong>" in body
    # one click: switch, and back on the same page, now without the offer
    back = owner.post("/teams/switch/", {"team": w.objects["team"].pk, "next": f"/experiments/{exp.pk}/"})
    assert back.status_code == 302 and back["Location"] == f"/experiments/{exp.pk}/"
    assert _current_team(owner) == w.objects["team"].pk
    assert 'id="team-offer"' not in owner.get(f"/experiments/{exp.pk}/").content.decode()


def test_the_switch_goes_back_only_to_a_page_of_this_site(w):
    owner = as_("owner", w)
    for nxt in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        answer = owner.post("/teams/switch/", {"team": w.objects["team"].pk, "next": nxt})
        assert answer.status_code == 302 and answer["Location"] == "/experiments/", nxt


def test_new_experiment_from_a_task_of_another_team_offers_the_switch(w):
    editor = as_("editor", w)
    personal = Team.objects.get(personal=True, created_by=w.users["editor"])
    editor.post("/teams/switch/", {"team": personal.pk})
    task = w.objects["task"]
    page = editor.get(f"/tasks/{task.pk}/").content.decode()
    assert 'id="switch-and-launch"' in page and f'value="/experiments/new/?task={task.pk}"' in page
    form = editor.get(f"/experiments/new/?task={task.pk}").content.decode()
    assert 'id="team-offer"' in form and f'The task "{task}" is in <strong>T</strong>' in form
    # the switch opens the form in T with the task chosen
    answer = editor.post("/teams/switch/", {"team": w.objects["team"].pk, "next": f"/experiments/new/?task={task.pk}"})
    opened = editor.get(answer["Location"]).content.decode()
    assert re.search(rf'<option value="{task.pk}" selected>', opened), "the train task is chosen"
    assert 'id="team-offer"' not in opened


def test_a_viewer_is_told_why_they_cannot_launch_from_another_teams_task(w):
    viewer = as_("viewer", w)
    personal = Team.objects.get(personal=True, created_by=w.users["viewer"])
    viewer.post("/teams/switch/", {"team": personal.pk})
    page = viewer.get(f"/tasks/{w.objects['task'].pk}/").content.decode()
    assert 'id="switch-and-launch"' not in page
    assert "Your role in T cannot launch experiments: copy the task into a team of yours" in page


# --- the experiment page's navigation ---------------------------------------------------------

def test_the_experiment_page_has_a_sticky_section_nav_whose_anchors_exist(w):
    body = as_("editor", w).get(f"/experiments/{w.objects['exp'].pk}/").content.decode()
    nav = re.search(r'<nav class="page-nav".*?</nav>', body, re.S).group(0)
    anchors = re.findall(r'href="#([\w-]+)"', nav)
    assert len(anchors) >= 7
    for anchor in anchors:
        assert f'id="{anchor}"' in body, anchor
    css = (settings.BASE_DIR / "static/lab/style.css").read_text()
    assert re.search(r"\.page-nav \{[^}]*position: sticky", css)


def test_the_shared_page_has_no_link_to_the_team_section(w):
    body = Client().get(f"/s/{w.tokens['valid']}/").content.decode()
    assert 'class="page-nav"' in body and 'href="#team-actions"' not in body and 'id="team-offer"' not in body


# --- the test set-up --------------------------------------------------------------------------

def test_each_run_has_its_own_test_database_which_servers_use_too():
    from django.db import connection

    from .live import app_database_url

    name = settings.DATABASES["default"]["TEST"]["NAME"]
    assert name.endswith(f"_{os.getpid()}") and connection.settings_dict["NAME"] == name
    assert app_database_url().endswith(f"/{name}")  # what app servers and workers get


def test_the_report_header_names_the_services_and_how_they_were_found():
    from tests.conftest import pytest_report_header

    lines = pytest_report_header(None)
    assert any(line.startswith("Postgres: ") and ("(reused" in line or "(started" in line) for line in lines)
    assert any(line.startswith("Redis: ") for line in lines)
    assert any(settings.DATABASES["default"]["TEST"]["NAME"] in line for line in lines)
    assert not any("@" in line for line in lines)  # no credentials
