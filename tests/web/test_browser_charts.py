"""Browser test of the charts (issue 23, items 5 and 8; Playwright + Chromium on the real app
server of test_browser.py, seeded with known results): four methods with equal accuracy at a
single N all stay visible (distinct x or marker positions), IA2's per-layer line is not hidden
under IA2->SFT's, the per-layer axis ticks whole layers, a method has one colour in every chart
and swatch (the chosen SFT trial of a loss chart included), a downloaded image names the model,
the task and N, the compare form submits without a JavaScript error, the provenance diff of a
deliberate cross-model comparison is collapsed, and "Per example" opens on a task both A and B ran.
Screenshot: test-output/browser/charts.png."""
import pytest

from .live import seed_app_db
from .test_browser import CHROMIUM, CHROMIUM_ARGS, OUTPUT, VIOLATIONS, app_server  # noqa: F401 - fixture

pytestmark = pytest.mark.slow
METHODS = ("icl", "sft", "ia2", "ia2-sft")

SEED = """
import django; django.setup()
from django.contrib.auth import get_user_model
from webapp.lab.models import LayerSimilarity, MetricPoint
from webapp.teams import services
from tests.web.conftest import make_task
from tests.web.test_compare import A_RIGHT, make_exp, make_result
user = get_user_model().objects.create_user("charter", password="charter-pw")
team = services.create_team(user, "group")
task = make_task(user, name="one-n-task", team=team, n=40)
other = make_task(user, name="aaa-only-icl", team=team, n=40)
e1 = make_exp(user, team, task, "single N")
e1.methods = ["icl", "sft", "ia2", "ia2-sft"]
e1.save()
e2 = make_exp(user, team, task, "other model", model="smollm2-135m")
prov = {}  # finished before provenance was recorded: the page says so, not "when it finishes"
for method in ("icl", "sft", "ia2", "ia2-sft"):
    run = make_result(e1, task, method, 4, 0, A_RIGHT, ece=0.1, provenance=prov)  # equal accuracy for all
    if method in ("ia2", "ia2-sft"):  # IA2->SFT equal to IA2 layer by layer
        LayerSimilarity.objects.bulk_create(LayerSimilarity(result=run.results.get(), layer=i, cosine=0.5 + i / 20,
                                                            cka=0.4) for i in range(3))
    if method == "sft":  # three learning-rate trials, the third (index 2) chosen
        trials = [{"trial": t, "lr": lr, "best_dev_loss": 1.0 - t / 10, "best_epoch": 1, "best_step": 2,
                   "epochs_run": 2} for t, lr in enumerate((1e-5, 1e-4, 1e-3))]
        run.training = [{"stage": "sft", **trials[2], "improved": True, "reused": False, "trials": trials}]
        run.save(update_fields=["training"])
        MetricPoint.objects.bulk_create(MetricPoint(run=run, series=f"sft/{key}@{t}", step=s, value=1.0 / (s + t + 1))
                                        for t in range(3) for key in ("loss", "dev_loss") for s in (1, 2))
make_result(e1, other, "icl", 4, 0, A_RIGHT, provenance=prov)  # a task of A (icl) only: first by name
make_result(e2, task, "icl", 4, 0, A_RIGHT[::-1], provenance={"model": "smollm2-135m"})
spaced = make_task(user, name="spaced", team=team, n=8)
spaced.input_template = "{x} "
spaced.save()
type(spaced).examples_changed([spaced.pk])
print(e1.pk, e2.pk, spaced.pk)
"""

TRACES = """sel => Array.from(document.querySelector(sel).data || []).map(t => ({
    name: t.name || "", x: Array.from(t.x || []), y: Array.from(t.y || []), mode: t.mode || "",
    color: (t.line && t.line.color) || (t.marker && typeof t.marker.color === "string" && t.marker.color) || "",
    symbol: (t.marker && t.marker.symbol) || "", dash: (t.line && t.line.dash) || "", meta: t.meta || ""}))"""


def _login(page, base):
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", "charter")
    page.fill("#id_password", "charter-pw")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/experiments/")


def _named(traces):
    return [t for t in traces if t["name"] and "lines" in t["mode"]]


def _assert_every_method_visible(traces, labels):
    """Equal values at one N: each method's point has its own x, or its own marker symbol."""
    points = {t["name"]: (t["x"][0], t["symbol"]) for t in _named(traces)}
    assert set(points) == set(labels), points
    xs = {x for x, _ in points.values()}
    symbols = {s for _, s in points.values()}
    assert len(xs) == len(labels) or len(symbols) == len(labels), points


def _assert_integer_layer_ticks(page, sel):
    ticks = page.evaluate(f"""() => Array.from(document.querySelectorAll('{sel} .xtick text')).map(t => t.textContent)""")
    assert ticks and all(t.strip().lstrip("−-").isdigit() for t in ticks), ticks


def test_charts_keep_every_method_visible_and_coloured_alike(app_server, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base = app_server
    e1, e2, spaced = seed_app_db(tmp_path, SEED, 3)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(30_000)
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.add_init_script(VIOLATIONS)
            _login(page, base)

            # --- the experiment page: one N, four methods with the same accuracy
            page.goto(f"{base}/experiments/{e1}/")
            page.select_option("#cmp-task", "one-n-task")
            page.wait_for_function("() => (document.querySelector('#acc-n-chart').data || []).length >= 8")
            page.wait_for_selector("#layer-chart svg.main-svg", state="attached")
            # every run has finished: the page no longer promises what "each run records when it finishes"
            page.wait_for_function("() => !document.querySelector('#model-identity-pending')"
                                   ".textContent.includes('when it finishes')")
            labels = {"ICL", "SFT", "IA2", "IA2->SFT"}
            acc = page.evaluate(TRACES, "#acc-n-chart")
            _assert_every_method_visible(acc, labels)
            colours = page.evaluate("() => Object.fromEntries(['icl','sft','ia2','ia2-sft'].map(m => [m, Lab.color(m)]))")
            assert len(set(colours.values())) == 4
            label_of = {"ICL": "icl", "SFT": "sft", "IA2": "ia2", "IA2->SFT": "ia2-sft"}
            for t in _named(acc):
                assert t["color"] == colours[label_of[t["name"]]], t
            # per layer: IA2 and IA2->SFT coincide in value, yet their points are apart and styled apart
            layers = {t["name"]: t for t in page.evaluate(TRACES, "#layer-chart")}
            ia2, both = layers["IA2"], layers["IA2->SFT"]
            assert ia2["y"] == both["y"]
            assert ia2["x"] != both["x"] and (ia2["symbol"], ia2["dash"]) != (both["symbol"], both["dash"])
            assert ia2["color"] == colours["ia2"] and both["color"] == colours["ia2-sft"]
            _assert_integer_layer_ticks(page, "#layer-chart")
            # the swatches of the runs table are the charts' colours
            swatches = page.evaluate("""() => Array.from(document.querySelectorAll('.swatch[data-method]')).map(s =>
                [s.dataset.method, getComputedStyle(s).backgroundColor])""")
            hex_to_rgb = lambda h: f"rgb({int(h[1:3], 16)}, {int(h[3:5], 16)}, {int(h[5:7], 16)})"  # noqa: E731
            assert swatches and all(rgb == hex_to_rgb(colours[m]) for m, rgb in swatches), swatches
            # the loss chart of the SFT run: its chosen trial (index 2) in SFT's colour, never IA2's green
            sft_option = page.evaluate("""() => Array.from(document.querySelectorAll('#loss-run option'))
                .find(o => o.textContent.startsWith('SFT')).value""")
            page.select_option("#loss-run", sft_option)
            page.wait_for_function("() => Array.from(document.querySelectorAll('#loss-panels .chart'))"
                                   ".some(d => !d.hidden && (d.data || []).length)")
            panel = page.evaluate("""() => '#' + Array.from(document.querySelectorAll('#loss-panels .chart'))
                .find(d => !d.hidden && (d.data || []).length).id""")
            loss = page.evaluate(TRACES, panel)
            chosen = [t for t in loss if "(chosen)" in t["name"]]
            assert chosen and all(t["color"] == colours["sft"] for t in chosen), chosen
            assert colours["ia2"] not in {t["color"] for t in loss}
            # a downloaded image names the model, the task and N
            page.hover("#acc-chart")
            with page.expect_download() as svg:
                page.click("#acc-chart .modebar-btn[data-title='Download plot as SVG']")
            svg_path = tmp_path / "acc.svg"
            svg.value.save_as(svg_path)
            text = svg_path.read_text()
            assert "embedded" in text and "one-n-task" in text and "N = 4" in text
            assert page.text_content("#acc-chart .gtitle").count("embedded") == 0  # the page's own chart is unchanged
            page.screenshot(path=str(OUTPUT / "charts.png"), full_page=True)

            # --- the compare page: submit without a JS error, markers apart, integer layer ticks
            page.goto(base + "/compare/")
            page.select_option("select[name=a]", "icl")
            page.select_option("select[name=b]", "sft")
            page.select_option("select[name=model]", ["embedded", "smollm2-135m"])
            page.click("#cmp-filters button[type=submit]")
            page.wait_for_url("**/compare/?*a=icl*")
            page.wait_for_selector("#cmp-charts[data-rendered='1']")
            page.select_option("#xc-model", "embedded")
            page.select_option("#xc-task", "one-n-task")
            page.wait_for_function("() => (document.querySelector('#xc-acc').data || []).length === 4")
            _assert_every_method_visible(page.evaluate(TRACES, "#xc-acc"), labels)
            for t in _named(page.evaluate(TRACES, "#xc-acc")):
                assert t["color"] == colours[label_of[t["name"]]], t
            page.wait_for_function("() => (document.querySelector('#xc-layers').data || []).length === 2")
            _assert_integer_layer_ticks(page, "#xc-layers")
            # a deliberate cross-model comparison: the provenance diff is there, collapsed
            assert page.locator("#provenance-diff details").count() == 1
            assert page.locator("#provenance-diff details[open]").count() == 0
            # "Per example": a task where both A (icl) and B (sft) ran, not the first by name
            assert "one-n-task" in page.inner_text("#cmp-examples h2")
            # a template's trailing space is marked in the prompt preview
            page.goto(f"{base}/tasks/{spaced}/")
            page.wait_for_selector("#pv-icl span.ws", state="attached")
            assert page.text_content("#pv-icl span.ws") == " "
            assert errors == [], errors
            assert page.evaluate("() => window.__csp") == []
            context.close()
        finally:
            browser.close()
