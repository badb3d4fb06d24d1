"""Browser test of a read-only share link (Playwright + Chromium, the real app server of
test_browser.py on a fresh SQLite database): an editor creates a link on the experiment
page (its token shown once); a fresh browser context with no session opens it, sees the
charts render from the link's own JSON, and is sent to sign-in by every other page; the
editor revokes the link (after a confirmation), and both the open page's JSON poll and a reload
answer 404, the reload with the styled page that says why."""

import pytest

from .live import seed_app_db
from .test_browser import CHROMIUM, CHROMIUM_ARGS, OUTPUT, app_server  # noqa: F401 - fixture

pytestmark = pytest.mark.slow

SEED = """
import django; django.setup()
from django.contrib.auth import get_user_model
from webapp.lab.models import Experiment
from webapp.teams import services
from tests.web.conftest import make_task
from tests.web.teams_world import finished_run
editor = get_user_model().objects.create_user("sharer", password="sharer-pw")
team = services.create_team(editor, "paper group")
task = make_task(editor, name="shared-task", team=team)
exp = Experiment.objects.create(owner=editor, team=team, name="shared results", train_task=task,
                                methods=["icl", "sft"], n_values=[4])
exp.eval_tasks.set([task])
finished_run(exp, task, "icl", accuracy=0.9)
finished_run(exp, task, "sft", accuracy=0.6)
other = Experiment.objects.create(owner=editor, team=team, name="unshared", train_task=task, methods=["sft"],
                                  n_values=[4])
print(exp.pk, other.pk, task.pk, team.pk)
"""


def _seed(tmp_path):
    return seed_app_db(tmp_path, SEED, 4)


def test_share_link_in_a_fresh_browser(app_server, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base = app_server
    exp_id, other_id, task_id, team_id = _seed(tmp_path)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            editor = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            editor.set_default_timeout(30_000)
            editor.goto(base + "/accounts/login/")
            editor.fill("#id_username", "sharer")
            editor.fill("#id_password", "sharer-pw")
            editor.click("button[type=submit]")
            editor.wait_for_url(base + "/experiments/")
            editor.goto(f"{base}/experiments/{exp_id}/")
            editor.fill("#share-form [name=label]", "reviewers")
            editor.click("#share-form button[type=submit]")
            url = editor.input_value("#share-url")
            token = url.rstrip("/").rsplit("/", 1)[1]
            assert url.startswith(base + "/s/") and len(token) >= 43

            # a visitor with the link and no account
            visitor_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            visitor = visitor_ctx.new_page()
            visitor.set_default_timeout(30_000)
            assert visitor.goto(url).status == 200
            for chart in ("#acc-n-chart", "#acc-chart", "#ece-chart", "#rel-charts", "#layer-chart"):
                visitor.wait_for_selector(f"{chart} svg.main-svg", state="attached")
            visitor.wait_for_function(
                "() => document.querySelector('#cmp-table tbody').innerText.includes('SFT')")
            assert "shared results" in visitor.inner_text("h1")
            assert visitor.locator("form").count() == 0, "a share page offers no form at all"
            assert visitor.locator("a[href^='/tasks/'], a[href^='/experiments/']").count() == 0
            visitor.screenshot(path=str(OUTPUT / "share.png"), full_page=True)
            # every other page sends the visitor to sign in
            other_pages = ["/", "/experiments/", "/tasks/", "/teams/", f"/experiments/{exp_id}/",
                           f"/experiments/{other_id}/", f"/experiments/{exp_id}/results.json",
                           f"/tasks/{task_id}/", f"/teams/{team_id}/", "/experiments/new/"]
            for path in other_pages:
                other = visitor_ctx.new_page()
                other.goto(base + path)
                assert other.url.startswith(base + "/accounts/login/"), (path, other.url)
                other.close()

            # revoked: the open page's next JSON poll and a reload both answer 404
            editor.goto(f"{base}/experiments/{exp_id}/")
            asked = []  # revoking asks first (data-confirm, static/lab/forms.js): dismissed, nothing changes
            editor.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
            editor.click("#share-links tr:has-text('reviewers') button:has-text('revoke')")
            assert asked and 'Revoke the share link "reviewers"?' in asked[0]
            assert visitor.evaluate("() => fetch('results.json').then((r) => r.status)") == 200
            editor.once("dialog", lambda d: d.accept())
            editor.click("#share-links tr:has-text('reviewers') button:has-text('revoke')")
            editor.wait_for_selector("text=revoked: it answers 404")
            assert token not in editor.content()
            assert visitor.evaluate("() => fetch('results.json').then((r) => r.status)") == 404
            assert visitor.evaluate("() => fetch('history.json').then((r) => r.status)") == 404
            assert visitor.reload().status == 404
            assert "shared results" not in visitor.content()
            # the reload says why, on the site's styled page (templates/404.html), with a way on
            assert "was revoked or has expired" in visitor.inner_text("#error-reason")
            assert visitor.locator("#error-ways a[href='/']").count() == 1
        finally:
            browser.close()
