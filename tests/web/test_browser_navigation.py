"""Browser test of the pages that never strand a user (Playwright + Chromium, the real app
server of test_browser.py on a fresh SQLite database): an experiment of another team than the
header's offers the switch and one click makes it, back on the same page; the experiment
page's section navigation stays in view while scrolling and its links jump; a viewer who tries
to edit gets the styled 403 with the reason, under the site's CSP, and the server logs that
refusal in one line, without a traceback."""
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
User = get_user_model()
owner = User.objects.create_user("navigator", password="navigator-pw")
User.objects.create_user("guest", password="guest-pw")
team = services.create_team(owner, "lab group")
services.invite(owner, team, "guest", "viewer")
task = make_task(owner, name="nav-task", team=team)
exp = Experiment.objects.create(owner=owner, team=team, name="long page", train_task=task,
                                methods=["icl", "sft"], n_values=[4])
exp.eval_tasks.set([task])
finished_run(exp, task, "icl", accuracy=0.9)
finished_run(exp, task, "sft", accuracy=0.6)
print(exp.pk, task.pk, team.pk)
"""


def _sign_in(browser, base, username, password):
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(30_000)
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/experiments/")
    return page


def test_offered_switch_sticky_sections_and_a_styled_403(app_server, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base = app_server
    exp_id, task_id, team_id = seed_app_db(tmp_path, SEED, 3)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    errors = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            owner = _sign_in(browser, base, "navigator", "navigator-pw")
            owner.on("pageerror", lambda e: errors.append(str(e)))
            owner.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
            personal = owner.input_value("select[name=team]")
            assert personal != str(team_id), "creating the team did not make it the header's team"

            # an experiment of another team: offered, not imposed; one click, same page
            owner.goto(f"{base}/experiments/{exp_id}/")
            assert owner.input_value("select[name=team]") == personal
            assert "is in lab group" in owner.inner_text("#team-offer")
            owner.click("#team-offer button")
            owner.wait_for_load_state()
            assert owner.url == f"{base}/experiments/{exp_id}/"
            assert owner.locator("#team-offer").count() == 0
            assert owner.input_value("select[name=team]") == str(team_id)

            # the section navigation stays at the top while the page scrolls, and its links jump
            owner.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
            top = owner.evaluate("() => document.querySelector('#page-nav').getBoundingClientRect().top")
            assert 0 <= top <= 2, top
            owner.click("#page-nav a[href='#runs-card']")
            owner.wait_for_function("() => Math.abs(document.querySelector('#runs-card').getBoundingClientRect().top)"
                                    " < 120")
            owner.screenshot(path=str(OUTPUT / "sticky-nav.png"))

            # a viewer's refusal: the styled page with the server's reason and ways back
            guest = _sign_in(browser, base, "guest", "guest-pw")
            answer = guest.goto(f"{base}/tasks/{task_id}/edit/")
            assert answer.status == 403
            assert guest.inner_text("#error-reason").strip() == "Your role in this team cannot edit this."
            assert guest.evaluate("() => getComputedStyle(document.querySelector('.error-page')).maxWidth") == "640px"
            assert guest.locator("#error-ways a[href='/tasks/']").count() == 1
            guest.screenshot(path=str(OUTPUT / "403.png"))
        finally:
            browser.close()
    assert errors == []
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert "Forbidden (Permission denied): /tasks/" in log and "cannot edit this" in log
    assert "Traceback" not in log
