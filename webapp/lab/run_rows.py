"""The rows of an experiment's runs table, for its page and for a share link's page.

Rendered once per progress of the experiment and cached (webapp/lab/fragments.py,
services/cache.by_progress: a finished experiment's under its results version, a running
one's also under its latest progress flush, never behind the database); the parts that
differ per request (the CSRF token, the runs URL) are put in after the cache.
"""
from django.conf import settings
from django.template.loader import render_to_string

from . import fragments, selectors
from .services import cache

RUNS_BASE_PLACEHOLDER = "@@runs-base@@"


def run_rows_html(request, exp, can_cancel=True, runs_base=None):
    """The rows' HTML. The adapter link takes this page's runs URL (`runs_base`: a share
    link's own prefix, so that the token never enters the cache). Readers who cannot cancel
    get rows without cancel forms."""
    mode = "rw" if can_cancel else "ro"

    def render():
        return render_to_string("lab/_run_rows.html", {
            "experiment": exp, "runs": selectors.run_rows(exp),
            "max_attempts": settings.LAB_MAX_ATTEMPTS, "csrf_input": fragments.CSRF_PLACEHOLDER,
            "can_cancel": can_cancel, "runs_base": RUNS_BASE_PLACEHOLDER})

    html, _ = cache.by_progress(exp, "run-rows", render, mode)
    return fragments.personalise(request, html, **{RUNS_BASE_PLACEHOLDER: runs_base or f"/experiments/{exp.pk}/runs/"})
