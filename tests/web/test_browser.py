"""Browser test (Playwright + Debian's chromium at /usr/bin/chromium): the real app
(`python -m webapp.serve`, embedded single-machine mode: in-process worker thread,
in-memory channel layer) on a free port with a fresh SQLite database in a temporary
folder, so it never touches the test Postgres. Signs in, creates a task with typed
examples plus a CSV import and checks its prompt preview, launches ICL, SFT and
IA2->SFT on the embedded model (train task: the built-in animal-or-fruit), watches
the progress bars move, waits for the accuracy/ECE/similarity charts (plotly SVG)
and saves a screenshot of the results page to test-output/browser/.
"""
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .live import ROOT, free_port, service_env, wait_for

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = ROOT / "test-output" / "browser"

pytestmark = pytest.mark.slow

CSV_ROWS = [("the horse", "yes"), ("a ripe mango", "no"), ("my cat", "yes"), ("some grapes", "no"),
            ("a tiny mouse", "yes"), ("the lemon", "no"), ("an old sheep", "yes"), ("two pears", "no")]
TYPED = [("the dog", "yes"), ("a red apple", "no"), ("the goat", "yes")]


@pytest.fixture
def app_server(tmp_path):
    assert Path(CHROMIUM).exists(), f"the browser test needs Chromium at {CHROMIUM}: apt-get install chromium"
    port = free_port()
    env = service_env(DATABASE_URL=f"sqlite:///{tmp_path / 'app.sqlite3'}", LAB_VAR_DIR=tmp_path / "var",
                      MEDIA_ROOT=tmp_path / "media", PORT=port, DEMO_PASSWORD="demo-pw", OMP_NUM_THREADS=1)
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "webapp.serve"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "server.log").read_text()[-3000:])
        try:
            return urllib.request.urlopen(base + "/accounts/login/", timeout=2).status == 200
        except OSError:
            return False

    try:
        wait_for(up, 90, interval=0.3, what="the app server")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def page(app_server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        try:
            yield pg
        finally:
            context.close()
            browser.close()


def _bars(page):
    return page.evaluate("""() => Array.from(document.querySelectorAll('tr[data-run]')).map(r => [
        r.dataset.run, r.querySelector('[data-f=bar]').style.width, r.querySelector('[data-f=state]').textContent])""")


def test_browser_task_experiment_results(app_server, page, tmp_path):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    try:
        _scenario(app_server, page, tmp_path)
    except BaseException:
        page.screenshot(path=str(OUTPUT / "failure.png"), full_page=True)
        raise


def _scenario(base, page, tmp_path):
    # sign in
    page.goto(base + "/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo-pw")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/experiments/")

    # a new task with typed examples and a CSV import
    page.goto(base + "/tasks/new/")
    page.fill("#id_name", "my-animal-or-fruit")
    page.fill("#id_description", "made in the browser test")
    page.fill("#id_input_template", "Text:{x}\nLabel:")
    page.fill("#id_labels_text", "yes\nno")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector("text=Add examples below")
    task_url = page.url
    for text, label in TYPED:
        page.fill("form.inline-form [name=input]", text)
        page.fill("form.inline-form [name=output]", label)
        page.click("form.inline-form button[type=submit]")
        page.wait_for_selector("text=Example added.")
    csv_path = tmp_path / "demos.csv"
    csv_path.write_text("input,output\n" + "".join(f"{i},{o}\n" for i, o in CSV_ROWS))
    page.click("summary:has-text('Import a file')")
    page.set_input_files("input[type=file][name=file]", str(csv_path))
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_load_state()
    assert page.url == task_url
    rows = page.locator("table.examples tbody tr")
    assert rows.count() == len(TYPED) + len(CSV_ROWS)
    assert "a ripe mango" in page.inner_text("table.examples")

    # the prompt preview shows the exact ICL prompt and SFT string (from the engine, via preview.json)
    page.wait_for_function("() => document.getElementById('pv-sft').textContent.length > 0", timeout=10000)
    icl = page.text_content("#pv-icl")
    # query 1 (the dog) with the next 3 pool examples as demonstrations, answers appended without a separator
    assert icl.startswith("Text:a red apple\nLabel:no\n\nText:the goat\nLabel:yes\n\nText:the horse\nLabel:yes")
    assert icl.endswith("\n\nText:the dog\nLabel:")
    assert page.text_content("#pv-sft") == "Text:the dog\nLabel:yes"
    page.fill("#pv-index", "2")
    page.wait_for_function("() => document.getElementById('pv-icl').textContent.endsWith('Text:a red apple\\nLabel:')",
                           timeout=10000)
    assert page.text_content("#pv-sft") == "Text:a red apple\nLabel:no"

    # launch ICL, SFT and IA2->SFT on the embedded model
    page.goto(base + "/experiments/new/")
    page.fill("#id_name", "browser run")
    page.select_option("#id_train_task", label="animal-or-fruit")
    for method in ("icl", "sft", "ia2-sft"):
        page.check(f"input[name=methods][value='{method}']")
    page.uncheck("input[name=methods][value='ia2']")
    page.fill("#id_n_values", "4")
    page.fill("#id_seeds", "1")
    page.fill("#id_eval_size", "40")
    page.fill("#id_similarity_size", "10")
    page.click("text=Validate and launch")
    page.wait_for_selector("text=Queued 3 runs.")
    page.wait_for_selector("#ws-status.ok")

    # the progress bars move while the runs execute
    seen = {}
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        bars = _bars(page)
        for run_id, width, _ in bars:
            seen.setdefault(run_id, [])
            if not seen[run_id] or seen[run_id][-1] != width:
                seen[run_id].append(width)
        if bars and all(state.startswith(("done", "failed", "cancelled")) for *_, state in bars):
            break
        time.sleep(0.1)
    states = [state for *_, state in _bars(page)]
    assert states == ["done"] * 3, (states, page.inner_text("#runs"))
    moving = [w for ws in seen.values() for w in ws if w not in ("", "0%", "100%")]
    assert moving, f"no progress bar showed an intermediate value: {seen}"
    assert any(len(ws) >= 2 for ws in seen.values()), seen

    # the compare view refreshes as each run finishes; then its charts are plotly SVG
    page.wait_for_function("() => document.querySelector('#cmp-table tbody').innerText.includes('IA2->SFT')")
    for chart in ("#acc-chart", "#ece-chart", "#rel-chart", "#layer-chart"):
        page.wait_for_selector(f"{chart} svg.main-svg", state="attached", timeout=30_000)
    assert page.locator("#acc-chart .trace.bars .point").count() == 3  # one bar per method
    assert page.locator("form[data-f=cancel]:visible").count() == 0, "finished runs still offer cancel"
    # the runs that trained an adapter offer it as a zip (shown live when they finished)
    links = page.locator("a[data-f=adapter]:visible")
    assert links.count() == 2
    import io
    import zipfile

    resp = page.request.get(base + links.first.get_attribute("href"))
    assert resp.status == 200 and resp.headers["content-type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(resp.body())).namelist()
    table = page.inner_text("#cmp-table")
    assert "ICL" in table and "SFT" in table and "IA2->SFT" in table
    page.screenshot(path=str(OUTPUT / "results.png"), full_page=True)
    assert (OUTPUT / "results.png").stat().st_size > 10_000
