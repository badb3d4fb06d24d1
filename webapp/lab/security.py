"""Content-Security-Policy on every response: scripts only from this server's static files
(no inline script, no eval, no inline event handlers), so text that reaches a page from
user data can never run even if a template or script mishandled it.

plotly.js (4.x, SVG traces) runs without 'unsafe-eval'; its WebGL traces (scattergl)
compile shaders with `Function` and would need it, so the pages use SVG traces only.
Styles allow 'unsafe-inline': plotly.js inserts a <style> element and the progress bars
set their width in a style attribute; a style cannot run script.
"""
from django.conf import settings

DEFAULT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self' {ws}; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def policy_for(request):
    """The policy text; the websocket origin is this host (connect-src 'self' does not cover
    ws:// in every browser)."""
    template = getattr(settings, "LAB_CONTENT_SECURITY_POLICY", DEFAULT_POLICY)
    host = request.get_host()
    return template.format(ws=f"ws://{host} wss://{host}")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            try:
                response["Content-Security-Policy"] = policy_for(request)
            except Exception:  # a disallowed Host header: the response is an error page already
                response["Content-Security-Policy"] = DEFAULT_POLICY.format(ws="")
        return response
