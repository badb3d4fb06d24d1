"""Browser test of /compare/ (Playwright + Chromium, the real app server of test_browser.py
on a fresh SQLite database, seeded with two experiments of known results): the metrics
table, the four charts (drawn by static/lab/cross_experiment_charts.js, no CSP violation), the paired
statistics, the per-example table, the provenance warning, a chart downloaded as SVG
and as PNG through plotly's own export, and the charts' metric labels taken from the metric
table the page JSON serves. Screenshot: test-output/browser/compare.png."""

import pytest

from .live import seed_app_db
from .test_browser import CHROMIUM, CHROMIUM_ARGS, OUTPUT, VIOLATIONS, app_server  # noqa: F401 - fixture

pytestmark = pytest.mark.slow

SEED = """
import django; django.setup()
from django.contrib.auth import get_user_model
from webapp.lab.models import LayerSimilarity
from webapp.teams import services
from tests.web.conftest import make_task
from tests.web.test_compare import A_RIGHT, B_RIGHT, make_exp, make_result
user = get_user_model().objects.create_user("comparer", password="comparer-pw")
team = services.create_team(user, "group")
task = make_task(user, name="cmp-task", team=team, n=40)
e1 = make_exp(user, team, task, "first")
e2 = make_exp(user, team, task, "second")
for exp, torch in ((e1, "2.13.0"), (e2, "2.14.0")):
    for seed in range(2):
        prov = {"model": "embedded", "torch": torch}
        sft = make_result(exp, task, "sft", 4, seed, A_RIGHT, ece=0.05 + seed / 100, provenance=prov)
        make_result(exp, task, "icl", 4, seed, B_RIGHT, ece=0.2 + seed / 100, provenance=prov)
        make_result(exp, task, "sft", 8, seed, A_RIGHT[::-1], ece=0.04, provenance=prov)
        LayerSimilarity.objects.bulk_create(LayerSimilarity(result=sft.results.get(), layer=i, cosine=0.5 + i / 10,
                                                            cka=0.4) for i in range(4))
print(e1.pk, e2.pk)
"""


def _seed(tmp_path):
    return seed_app_db(tmp_path, SEED, 2)


def _relabel(route):
    """The page JSON with every metric of its metric table renamed: label L:<name>, title
    T:<name>, unit U:<name>; a chart that shows these read them from the served table."""
    response = route.fetch()
    body = response.json()
    for name, m in body["metric_table"].items():
        m.update(label=f"L:{name}", title=f"T:{name}", unit=f"U:{name}")
    route.fulfill(response=response, json=body)


def test_compare_page_in_the_browser(app_server, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    base = app_server
    e1, e2 = _seed(tmp_path)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.add_init_script(VIOLATIONS)
            page.goto(base + "/accounts/login/")
            page.fill("#id_username", "comparer")
            page.fill("#id_password", "comparer-pw")
            page.click("button[type=submit]")
            page.wait_for_url(base + "/experiments/")
            page.click("nav a:has-text('Compare')")
            page.wait_for_url(base + "/compare/")
            # choose A and B in the form: the filters become the page's address
            page.select_option("select[name=a]", "sft")
            page.select_option("select[name=b]", "icl")
            page.select_option("select[name=show]", "a_right_b_wrong")
            page.click("#cmp-filters button[type=submit]")
            page.wait_for_url("**/compare/?*a=sft*")
            assert "b=icl" in page.url and "show=a_right_b_wrong" in page.url
            page.wait_for_selector("#cmp-charts[data-rendered='1']")
            for chart in ("#xc-acc", "#xc-ece", "#xc-rel", "#xc-layers"):
                page.wait_for_selector(f"{chart} svg.main-svg", state="attached")
            legend = page.text_content("#xc-acc .legend")
            assert "SFT" in legend and "ICL" in legend
            # error bars on the accuracy chart (2 runs per point: a 95% CI)
            assert page.locator("#xc-acc g.errorbar").count() >= 2
            summary = page.inner_text("#cmp-summary")
            assert "mean ± sample sd (ddof=1) over seeds" in summary and "0.750" in summary
            paired = page.inner_text("#paired-table")
            assert "beyond noise" in paired and "10" in paired
            assert "10 of 20 examples" in page.inner_text("#ex-summary")
            assert page.locator("#xc-examples tbody tr").count() == 10
            warning = page.inner_text("#provenance-diff")
            assert "torch" in warning and "2.14.0" in warning
            # plotly's own export: SVG and PNG of a chart, named after the page and the chart
            page.hover("#xc-acc")
            with page.expect_download() as svg:
                page.click("#xc-acc .modebar-btn[data-title='Download plot as SVG']")
            assert svg.value.suggested_filename == "comparison-xc-acc.svg"
            svg_path = tmp_path / "chart.svg"
            svg.value.save_as(svg_path)
            assert svg_path.read_text().lstrip().startswith("<svg")
            with page.expect_download() as png:
                page.click("#xc-acc .modebar-btn[data-title='Download plot as PNG']")
            png_path = tmp_path / "chart.png"
            png.value.save_as(png_path)
            assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert page.evaluate("() => window.__csp") == [], "the Content-Security-Policy blocked something"
            page.screenshot(path=str(OUTPUT / "compare.png"), full_page=True)
            # the experiment page's charts offer the same downloads
            page.goto(f"{base}/experiments/{e1}/")
            page.wait_for_selector("#acc-n-chart svg.main-svg", state="attached")
            assert page.locator("#acc-n-chart .modebar-btn[data-title='Download plot as SVG']").count() == 1
            assert page.locator("#exp-exports a").count() >= 7
            # the charts' metric labels, units and bins are the served metric table's
            page.route("**/results.json", _relabel)
            page.route("**/compare/data.json*", _relabel)
            page.reload()
            page.wait_for_function("() => document.querySelector('#cmp-table thead').innerText.includes('L:brier')")
            page.wait_for_selector("#layer-chart svg.main-svg", state="attached")
            assert page.text_content("#acc-n-chart .gtitle") == "T:accuracy against N"
            assert page.text_content("#ece-chart .g-ytitle") == "L:ece (U:ece)"
            assert page.text_content("#layer-chart .gtitle").startswith("L:cosine per layer")
            assert page.text_content("#cmp-bins") == "T:ece."
            page.goto(base + "/compare/?a=sft&b=icl")
            page.wait_for_selector("#cmp-charts[data-rendered='1']")
            page.wait_for_selector("#xc-layers svg.main-svg", state="attached")
            assert page.text_content("#xc-acc .gtitle") == "T:accuracy against N"
            assert page.text_content("#xc-ece .g-ytitle") == "L:ece (U:ece)"
            assert page.text_content("#xc-rel .g-ytitle") == "L:accuracy"
            assert page.text_content("#xc-layers .gtitle").startswith("L:cosine per layer")
            context.close()
        finally:
            browser.close()
