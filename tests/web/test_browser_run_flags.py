"""The experiment page's live runs table (static/lab/live.js) shows a run's cancel and retry
buttons and its adapter link from the flags of the run's snapshot (`can_cancel`,
`can_retry`, `has_adapter`, decided by models.Run), not from its state: served a snapshot
whose flags contradict its state, the page follows the flags. Playwright + Chromium on the
real app server of test_browser.py (embedded mode, one SFT run of the embedded model)."""
import json

import pytest

from .test_browser import app_server, fill_sft_experiment, page, sign_in  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


def _shown(page, field):
    return page.locator(f"tr[data-run] [data-f={field}]:visible").count() == 1


def test_the_live_table_follows_the_snapshot_flags(app_server, page):  # noqa: F811
    base = app_server
    sign_in(page, base)
    fill_sft_experiment(page, base, "run flags", n=4, eval_size=10)
    page.click("text=Validate and launch")
    page.wait_for_selector("tr[data-run] [data-f=state].done", timeout=300_000)
    # the real snapshot of a done SFT run: no cancel, no retry, its adapter
    page.wait_for_function("() => !document.querySelector('tr[data-run] [data-f=adapter]').hidden")
    assert (_shown(page, "cancel"), _shown(page, "retry"), _shown(page, "adapter")) == (False, False, True)

    def doctored(route):
        history = route.fetch().json()
        for run in history["runs"]:
            assert run["state"] == "done" and run["has_adapter"] is True
            run.update(final=False, can_cancel=True, can_retry=True, has_adapter=False)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(history))

    page.route("**/history.json", doctored)
    page.route_web_socket("**/ws/experiments/**", lambda ws: None)  # no live message overrides it
    page.reload()
    page.wait_for_function("() => !document.querySelector('tr[data-run] [data-f=retry]').hidden")
    assert (_shown(page, "cancel"), _shown(page, "retry"), _shown(page, "adapter")) == (True, True, False)
    assert page.inner_text("tr[data-run] [data-f=state]").startswith("done")  # the state itself is unchanged
