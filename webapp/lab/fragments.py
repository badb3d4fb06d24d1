"""Cached HTML fragments of the busiest pages (an experiment's runs table, a task's page of
examples). Rendering 100 rows is most of such a page's cost, so the rows are rendered once
per version of what they show and stored in the cache; the parts that differ per request
(the CSRF token of a row's form, a share link's own URL prefix) are placeholders put in
after the cache. The cache is an optimisation only (services/cache.py): unreachable, every
request renders."""
from django.middleware.csrf import get_token
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

from .services import cache

CSRF_PLACEHOLDER = "@@csrf-input@@"


def cached(key, render, timeout=None):
    """The fragment under `key`, rendered by `render()` and stored on a miss; `key=None`:
    render only (what the rows show is still changing in a way the key cannot name)."""
    return render() if key is None else cache.remember(key, render, timeout)


def personalise(request, html, **placeholders):
    """`html` with this request's CSRF token, and each `placeholders` value (escaped) in
    place of its key, marked safe for the page's template."""
    token = format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))
    html = html.replace(CSRF_PLACEHOLDER, token)
    for marker, value in placeholders.items():
        html = html.replace(marker, escape(value))
    return mark_safe(html)
