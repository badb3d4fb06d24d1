"""The README's REST API example, run for real: the README quotes docs/api_example.py exactly,
and that file, run as a separate process with only `requests`, drives a live app server
(`python -m webapp.serve`, embedded mode: in-process worker thread, a fresh SQLite database in
a temporary folder) through real HTTP: it creates a task, launches ICL and SFT on the embedded
model, waits for the runs and prints the results. The same server's /api/docs is then opened in
headless Chromium: Swagger UI renders every route with no Content-Security-Policy violation."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .live import ROOT, embedded_app

EXAMPLE = ROOT / "docs" / "api_example.py"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def test_readme_quotes_the_example_file():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert EXAMPLE.read_text() in blocks, "README's REST API example differs from docs/api_example.py"
    assert "import requests" in EXAMPLE.read_text()


@pytest.fixture
def app_server(tmp_path):
    with embedded_app(tmp_path) as (base, env):
        yield base, env
    assert "Traceback" not in (tmp_path / "server.log").read_text()


@pytest.mark.slow
def test_readme_example_against_a_live_server(app_server):
    base, env = app_server
    made = subprocess.run([sys.executable, "manage.py", "api_token", "demo", "--name", "readme example"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("lab_")
    run = subprocess.run([sys.executable, str(EXAMPLE)], cwd=ROOT, env={**env, "LAB_URL": base, "LAB_TOKEN": token},
                         capture_output=True, text=True, timeout=540)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    assert re.search(r"task \d+: 16 pool \+ 4 evaluation examples", out), out
    assert re.search(r"experiment \d+: 2 runs queued", out), out
    assert len(re.findall(r"run \d+ (icl|sft) N=2 seed=0: done", out)) == 2, out
    rows = re.findall(r"(ICL|SFT) N=2 on animal or fruit .*: accuracy ([0-9.]+), ECE ([0-9.]+)", out)
    assert sorted(r[0] for r in rows) == ["ICL", "SFT"], out
    assert all(0 <= float(acc) <= 1 for _, acc, _ in rows)
    print("\n" + out)

    # the documentation page of the same server, in a real browser under the site's CSP
    assert Path(CHROMIUM).exists(), f"the docs page check needs Chromium at {CHROMIUM}: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"])
        page = browser.new_page()
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.add_init_script("document.addEventListener('securitypolicyviolation', e => "
                             "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));")
        response = page.goto(base + "/api/docs")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        try:
            page.wait_for_selector(".opblock", timeout=30_000)
        except Exception:
            raise AssertionError(f"Swagger UI did not render: {problems}") from None
        paths = page.locator(".opblock-summary-path").all_text_contents()
        assert any("/api/experiments/" in p for p in paths) and any("/api/tasks/" in p for p in paths), paths
        assert page.locator(".btn.authorize").count() == 1  # where a token is entered
        browser.close()
    assert not problems, problems
