"""Browser test of the three progress messages (lab/progress_messages.py) on the experiment
page (Playwright + Chromium, the real app server of test_browser.py: embedded mode, a fresh
SQLite database): one SFT run of the embedded model is launched through the form and
watched. Every websocket message the server sends goes through the test (page.route_web_socket),
is checked against the schema and passed on unchanged; the socket is cut once during
training, so the page resumes and the server replays what it missed. The page must draw every
loss point of the live events and of that replay, show what the engine chose (runs table,
legend) and label the panel from the engine's loss definitions; reloaded, it must draw the
same points from history.json. Screenshot: test-output/browser/progress-messages.png."""
import json

import pytest

from webapp.lab.progress_messages import validate
from workers.engine.loss_definitions import LOSSES

from .test_browser import (CHROMIUM, CHROMIUM_ARGS, OUTPUT, VIOLATIONS, app_server,  # noqa: F401 - fixture
                           fill_sft_experiment, sign_in)

pytestmark = pytest.mark.slow

DRAWN = "() => Number(document.getElementById('loss').dataset.points || 0)"


class Socket:
    """Passes the server's messages to the page, keeping each; cuts the connection once, at
    the first live event with loss points."""

    def __init__(self):
        self.frames, self.cut, self.connections = [], False, 0

    def route(self, ws):
        self.connections += 1
        server = ws.connect_to_server()

        def from_server(text):
            msg = json.loads(text)
            self.frames.append(msg)
            ws.send(text)
            if not self.cut and msg["type"] == "event" and msg["points"]:
                self.cut = True   # the page reconnects and resumes from the ids it has seen
                ws.close()
                server.close()

        server.on_message(from_server)


def _point_ids(frames):
    return {p["id"] for m in frames if m["type"] in ("event", "replay") for p in m["points"]}


def test_the_page_renders_live_events_a_replay_and_the_history(app_server, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base, sock = app_server, Socket()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(30_000)
            page.add_init_script(VIOLATIONS)
            page.route_web_socket("**/ws/experiments/**", sock.route)
            sign_in(page, base)
            fill_sft_experiment(page, base, "progress messages", n=8, eval_size=20)
            with page.expect_response("**/history.json") as first_history:
                page.click("text=Validate and launch")
            history = first_history.value.json()
            validate(history)
            page.wait_for_selector("tr[data-run] [data-f=state].done", timeout=300_000)
            (run_id,) = page.eval_on_selector_all("tr[data-run]", "rs => rs.map(r => Number(r.dataset.run))")

            # every message the server sent matches the schema; the cut made the page resume
            kinds = [validate(m).type for m in sock.frames]
            assert sock.cut and sock.connections >= 2 and kinds.count("replay") >= 2, kinds
            cut_at = next(i for i, m in enumerate(sock.frames) if m["type"] == "event" and m["points"])
            replay = next(m for m in sock.frames[cut_at:] if m["type"] == "replay")
            assert replay["points"], "nothing was missed while the socket was cut: the replay is not exercised"
            live = [m for m in sock.frames if m["type"] == "event"]
            assert any(m["points"] for m in live) and live[-1]["run"]["state"] == "done"

            # the page drew every point: from history.json, the replays and the live events
            expected = sum(s["total_points"] for s in history["series"].get(str(run_id), {}).values())
            expected += len(_point_ids(sock.frames))
            page.wait_for_function(f"() => ({DRAWN})() === {expected}", timeout=10_000)

            # what the engine chose, shown as stored; the panel labelled by the engine's definitions
            (chose,) = live[-1]["run"]["training"]
            lr = json.dumps(chose["lr"])   # how JSON, and so JS, writes the number
            assert f"sft: lr {lr} · {chose['epochs_run']} epoch" in page.inner_text(f"tr[data-run='{run_id}']")
            assert f"best {chose['best_epoch']}" in page.inner_text(f"tr[data-run='{run_id}'] [data-f=training]")
            page.wait_for_selector("#loss-ce svg.main-svg")
            assert f"sft · lr {lr} (chosen)" in page.locator("#loss-ce .legend").text_content()
            title = page.locator("#loss-ce .gtitle").text_content()
            assert LOSSES["sft"].label in title and LOSSES["sft"].formula in title
            assert LOSSES["sft"].unit in page.locator("#loss-ce .g-ytitle").text_content()
            page.screenshot(path=str(OUTPUT / "progress-messages.png"), full_page=True)

            # reloaded: the same points, all from history.json
            with page.expect_response("**/history.json") as again:
                page.reload()
            history = again.value.json()
            validate(history)
            series = history["series"][str(run_id)]
            assert sum(s["total_points"] for s in series.values()) == expected
            page.wait_for_function(f"() => ({DRAWN})() === {expected}", timeout=10_000)
            assert f"sft · lr {lr} (chosen)" in page.locator("#loss-ce .legend").text_content()
            assert page.evaluate("() => window.__csp") == [], "the Content-Security-Policy blocked something"
        finally:
            browser.close()
