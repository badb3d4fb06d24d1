"""Browser test (Playwright + Debian's chromium at /usr/bin/chromium): the real app
(`python -m webapp.serve`, embedded single-machine mode: in-process worker thread,
in-memory channel layer) on a free port with a fresh SQLite database in a temporary
folder, so it never touches the test Postgres. Signs in, creates a task whose name and
one example are markup (which must show as text and run nothing: no script, no
Content-Security-Policy violation) with typed examples plus a CSV import and checks its
prompt preview, launches ICL, SFT and IA2->SFT at N = 2, 4 with two seeds on the embedded model (train
task: the built-in animal-or-fruit, also evaluated on the task made here), watches the
progress bars move, checks cancel-all asks first, then the finished page: no live badge
or cancel-all, what training chose, accuracy/ECE against N, reliability diagrams, loss
curves per learning-rate trial, the LoRA subspace overlap heatmap, the per-example view,
and a 390 px phone viewport. The launch button spins while the model check runs.
Screenshots go to test-output/browser/ (model-check, live-midrun, loss-chart,
accuracy-vs-n, reliability, adapter-overlap, per-example, results, mobile).
"""
import csv
import io
import os
import time
import zipfile
from pathlib import Path

import pytest

from .live import ROOT, embedded_app

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
    with embedded_app(tmp_path) as (base, _env):
        yield base


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


# A task name and an example that would run script if any page put data in as HTML.
XSS_NAME = '<img src=x onerror="window.__xss=1"> "quoted" & co'
XSS_MARKUP = '<b onmouseover="window.__xss=2">{}</b>" title="x'


def _csv_rows_with_markup():
    """The CSV rows with one of them wrapped in markup: a row the engine holds out for
    evaluation (half of the pool, by a shuffle seeded with the task name: sampling.eval_set),
    so that it shows in the per-example view. Not the first row: the preview test reads it."""
    from workers.engine.sampling import rng_for

    n = len(TYPED) + len(CSV_ROWS)
    held = rng_for("eval", XSS_NAME).permutation(n)[n - n // 2:]
    pick = max(int(i) for i in held) - len(TYPED)
    assert pick > 0, held
    rows = list(CSV_ROWS)
    rows[pick] = (XSS_MARKUP.format(rows[pick][0]), rows[pick][1])
    return rows, rows[pick][0], CSV_ROWS[pick][0]
VIOLATIONS = """window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"""


def _shot(page, selector, name):
    """A screenshot of one element (scrolled into view) under test-output/browser/."""
    loc = page.locator(selector)
    loc.scroll_into_view_if_needed()
    loc.screenshot(path=str(OUTPUT / name))
    assert (OUTPUT / name).stat().st_size > 5_000, name


WIDER_THAN_SCREEN = """() => Array.from(document.querySelectorAll('body *')).filter(e => {
    const r = e.getBoundingClientRect();
    return r.right > window.innerWidth + 1 && !e.closest('.table-scroll, table.grid');
}).slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


CHARTS_WIDER_THAN_BOX = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(d => d.offsetParent)
    .filter(d => d.querySelector('svg.main-svg').getBoundingClientRect().width > d.clientWidth + 2).map(d => d.id)"""


def _no_injection(page):
    assert page.evaluate("() => window.__xss") is None, "injected markup ran"
    assert page.evaluate("() => window.__csp") == [], "the Content-Security-Policy blocked something"
    assert page.evaluate("() => document.querySelectorAll('main img, main b').length") == 0, "data became markup"


def sign_in(page, base, username="demo", password="demo-pw"):
    """Sign in through the page's form (the embedded app's demo user by default)."""
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/experiments/")


def fill_sft_experiment(page, base, name, n, eval_size):
    """The new-experiment form filled for one SFT run on animal-or-fruit (no similarity
    pass), ready for its launch button."""
    page.goto(base + "/experiments/new/")
    page.fill("#id_name", name)
    page.select_option("#id_train_task", label="animal-or-fruit")
    page.eval_on_selector_all("input[name=methods]", "els => els.forEach(e => { e.checked = false; })")
    page.check("input[name=methods][value='sft']")
    page.fill("#id_n_values", str(n))
    page.fill("#id_seeds", "1")
    page.fill("#id_eval_size", str(eval_size))
    page.fill("#id_similarity_size", "0")


def _scenario(base, page, tmp_path):
    dialogs = []
    page.add_init_script(VIOLATIONS)

    def on_dialog(d):
        dialogs.append((d.type, d.message))
        d.dismiss()

    page.on("dialog", on_dialog)

    sign_in(page, base)

    # a new task (named with markup) with typed examples and a CSV import
    page.goto(base + "/tasks/new/")
    page.fill("#id_name", XSS_NAME)
    page.fill("#id_description", "made in the browser test")
    page.fill("#id_input_template", "Text:{x}\nLabel:")
    page.fill("#id_labels_text", "yes\nno")
    page.click("form.stacked button[type=submit]")
    page.wait_for_selector("text=Add examples below")
    task_url = page.url
    assert page.inner_text("h1").startswith(XSS_NAME)
    for text, label in TYPED:
        page.fill("form.inline-form [name=input]", text)
        page.fill("form.inline-form [name=output]", label)
        page.click("form.inline-form button[type=submit]")
        page.wait_for_selector("text=Example added.")
    csv_path = tmp_path / "demos.csv"
    csv_rows, xss_input, xss_plain = _csv_rows_with_markup()
    with open(csv_path, "w", newline="") as fh:
        csv.writer(fh).writerows([("input", "output"), *csv_rows])
    page.click("summary:has-text('Import a file')")
    page.set_input_files("input[type=file][name=file]", str(csv_path))
    page.click("form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_load_state()
    assert page.url == task_url
    rows = page.locator("table.examples tbody tr")
    assert rows.count() == len(TYPED) + len(CSV_ROWS)
    assert "a ripe mango" in page.inner_text("table.examples") and xss_input in page.inner_text("table.examples")

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
    _no_injection(page)

    # launch ICL, SFT and IA2->SFT on the embedded model at two N, evaluated on the built-in
    # animal-or-fruit and on the task made above
    page.goto(base + "/experiments/new/")
    page.fill("#id_name", "browser run")
    page.select_option("#id_train_task", label="animal-or-fruit")
    page.select_option("#id_eval_tasks", label=XSS_NAME)
    for method in ("icl", "sft", "ia2-sft"):
        page.check(f"input[name=methods][value='{method}']")
    page.uncheck("input[name=methods][value='ia2']")
    page.fill("#id_n_values", "2, 4")
    page.fill("#id_seeds", "2")
    page.fill("#id_eval_size", "40")
    page.fill("#id_similarity_size", "10")
    # the task made above holds markup and words outside the embedded model's vocabulary: the
    # unreadable-text guard asks for confirmation (test_unreadable.py tests the guard itself)
    page.check("#id_confirm_unreadable")
    # while the server checks the model the button spins and says so: seen here with the
    # submission stopped after the page's own handlers ran (a page waiting for its next
    # document cannot be inspected), then undone as the back button would
    page.evaluate("""() => document.addEventListener('submit', e => { if (window.__hold) e.preventDefault(); })""")
    page.evaluate("() => { window.__hold = true; }")
    page.click("text=Validate and launch")
    page.wait_for_selector("form.experiment-form button.busy:has-text('Checking the model')")
    assert page.is_visible("form.experiment-form [data-checking]")
    assert page.eval_on_selector("button.busy", "b => getComputedStyle(b, '::before').animationName") == "spin"
    page.wait_for_function("() => document.querySelector('button.busy').disabled")  # no second submit
    _shot(page, "form.experiment-form .actions-row", "model-check.png")
    page.evaluate("() => { window.__hold = false; window.dispatchEvent(new Event('pageshow')); }")
    assert page.locator("button.busy").count() == 0 and not page.is_visible("[data-checking]")
    page.click("text=Validate and launch")
    page.wait_for_selector("text=Queued 12 runs.")
    page.wait_for_selector("#ws-status.ok")
    assert page.is_visible("#cmp-empty") and "Waiting for the first finished run" in page.inner_text("#cmp-empty")

    # the progress bars move while the runs execute; mid-run: the live view and the loss chart
    seen, live_shot = {}, False
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        bars = _bars(page)
        for run_id, width, _ in bars:
            seen.setdefault(run_id, [])
            if not seen[run_id] or seen[run_id][-1] != width:
                seen[run_id].append(width)
        if not live_shot and page.evaluate("() => Number(document.getElementById('loss').dataset.points || 0) >= 40"):
            page.screenshot(path=str(OUTPUT / "live-midrun.png"), full_page=True)
            live_shot = True
            # cancel-all asks first; dismissing the question cancels nothing
            page.click("#cancel-all button")
            assert dialogs and dialogs[-1][0] == "confirm" and "Cancel every run" in dialogs[-1][1]
        if bars and all(state.startswith(("done", "failed", "cancelled")) for *_, state in bars):
            break
        time.sleep(0.1)
    states = [state for *_, state in _bars(page)]
    assert states == ["done"] * 12, (states, page.inner_text("#runs"))
    assert live_shot, "never saw a loss chart while runs were training"
    moving = [w for ws in seen.values() for w in ws if w not in ("", "0%", "100%")]
    assert moving, f"no progress bar showed an intermediate value: {seen}"
    assert any(len(ws) >= 3 for ws in seen.values()), seen
    assert [t for t, _ in dialogs] == ["confirm"], dialogs

    # everything finished: no live badge, no cancel-all; the experiment bar says so
    page.wait_for_function("() => document.getElementById('live-actions').hidden")
    assert "12 of 12 runs finished" in page.inner_text("#overall-text")
    assert page.locator("form[data-f=cancel]:visible").count() == 0, "finished runs still offer cancel"
    training = page.inner_text("#runs")
    assert "sft: lr " in training and "best " in training and "ia2: lr " in training

    # the compare view refreshes as each run finishes; then its charts are plotly SVG
    page.wait_for_function("() => document.querySelector('#cmp-table tbody').innerText.includes('IA2->SFT')")
    for chart in ("#acc-n-chart", "#ece-n-chart", "#acc-chart", "#ece-chart", "#rel-charts", "#layer-chart"):
        page.wait_for_selector(f"{chart} svg.main-svg", state="attached", timeout=30_000)
    options = page.eval_on_selector_all("#cmp-task option", "os => os.map(o => o.textContent)")
    assert XSS_NAME in options and "animal-or-fruit" in options, options
    page.select_option("#cmp-task", label="animal-or-fruit")
    page.select_option("#cmp-n", "4")
    page.wait_for_timeout(500)
    # accuracy against N: one line per method over N = 2, 4
    assert page.locator("#acc-n-chart .scatterlayer .trace").count() >= 3
    assert page.locator("#rel-charts .rel-panel").count() == 3  # one reliability diagram per method
    for el in ("xtitle", "ytitle"):
        assert page.locator(f"#acc-n-chart .g-{el}").text_content().strip()
    # the runs that trained an adapter offer it as a zip (shown live when they finished)
    links = page.locator("a[data-f=adapter]:visible")
    assert links.count() == 8  # sft and ia2-sft at two N with two seeds
    resp = page.request.get(base + links.first.get_attribute("href"))
    assert resp.status == 200 and resp.headers["content-type"] == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(resp.body())).namelist()
    table = page.inner_text("#cmp-table")
    assert "ICL" in table and "SFT" in table and "IA2->SFT" in table

    # loss curves of one IA2->SFT run: CE and MSE panels, one line per learning-rate trial
    ia2_run = page.eval_on_selector_all("#loss-run option", "os => os.map(o => [o.value, o.textContent])")
    value = next(v for v, t in ia2_run if t.startswith("IA2->SFT N=4 seed 0"))
    page.select_option("#loss-run", value)
    page.wait_for_timeout(800)
    assert page.is_visible("#loss-ce svg.main-svg") and page.is_visible("#loss-mse svg.main-svg")
    legend = page.locator("#loss-ce .legend").text_content()
    assert "(chosen)" in legend and "dev" in legend and "train" in legend
    assert page.evaluate(CHARTS_WIDER_THAN_BOX) == [], "a chart is cut off by its box"
    _shot(page, "#loss", "loss-chart.png")
    # "all runs of this method": the kept trial of each of the 4 SFT runs, train and dev
    page.select_option("#loss-run", "method:sft")
    page.wait_for_function("() => document.querySelectorAll('#loss-ce .scatterlayer .trace').length >= 8")
    assert "SFT N=4 seed 1" in page.locator("#loss-ce .legend").text_content()
    _shot(page, "#acc-n-chart", "accuracy-vs-n.png")
    _shot(page, "#rel-charts", "reliability.png")

    # the LoRA subspace overlap of SFT and IA2->SFT at N = 4 (measured by the worker as runs
    # finished): a 2 x 2 heatmap, 1 on the diagonal, the pair's mean over both seeds elsewhere
    page.wait_for_selector("#overlap-chart svg.main-svg")
    z = page.evaluate("() => document.getElementById('overlap-chart').data[0].z")
    assert len(z) == 2 and z[0][0] == z[1][1] == 1 and z[0][1] == z[1][0] and 0 <= z[0][1] <= 1, z
    ticks = [t for t in page.locator("#overlap-chart .xtick").all_text_contents() if t]
    assert ticks == ["SFT", "IA2->SFT"], ticks
    assert page.locator("#overlap-chart .g-xtitle").text_content().strip() == "method"
    assert "1 = identical subspaces" in page.inner_text("#overlap-caption") and "r / d ≈" in page.inner_text(
        "#overlap-caption")
    _shot(page, "#overlap", "adapter-overlap.png")

    # the per-example view of the task made above shows its markup as text
    page.select_option("#cmp-task", label=XSS_NAME)
    page.wait_for_function("(t) => document.querySelector('#ex-table tbody').innerText.includes(t)", arg=xss_plain)
    assert xss_input in page.inner_text("#ex-table tbody")
    assert page.locator("#cmp-warning").is_visible()  # 5 held-out examples are far too few for 15-bin ECE
    _shot(page, "#ex-table", "per-example.png")
    _no_injection(page)
    page.screenshot(path=str(OUTPUT / "results.png"), full_page=True)
    assert (OUTPUT / "results.png").stat().st_size > 10_000

    # a 390 px phone: no page is wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    for url in (page.url, base + "/tasks/", task_url, base + "/experiments/new/"):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 392, (url, width, page.evaluate(WIDER_THAN_SCREEN))
    page.goto(base + "/experiments/")
    page.click("text=browser run")
    page.wait_for_selector("#acc-n-chart svg.main-svg", state="attached")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 392, page.evaluate(WIDER_THAN_SCREEN)
    page.screenshot(path=str(OUTPUT / "mobile.png"), full_page=True)
    _no_injection(page)
