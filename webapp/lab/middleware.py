"""Turn database/Redis connection errors into a clear 503 page instead of a traceback."""
import logging
import sys

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import server_error as django_server_error

log = logging.getLogger("webapp.lab")
MESSAGE = "The database is temporarily unreachable; retry in a moment."


def _unavailable_types():
    types = [OperationalError, InterfaceError, ConnectionError]
    try:
        import redis.exceptions

        types += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover
        pass
    try:
        import kombu.exceptions

        types.append(kombu.exceptions.OperationalError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


UNAVAILABLE = _unavailable_types()


def is_unavailable(exc):
    return isinstance(exc, UNAVAILABLE)


def unavailable_response(request, exc):
    log.warning("service unavailable: %s: %s", type(exc).__name__, exc)
    what = "database" if isinstance(exc, (OperationalError, InterfaceError)) else "message broker (Redis)"
    message = MESSAGE if what == "database" else "The message broker (Redis) is temporarily unreachable; retry in a moment."
    try:  # rendered without the request: no context processor may touch the database
        response = HttpResponse(render_to_string("503.html", {"message": message}), status=503)
    except Exception:
        response = HttpResponse(message, status=503, content_type="text/plain")
    response["Retry-After"] = "5"
    return response


class ServiceUnavailableMiddleware:
    """Outermost middleware: catches connection errors from views and inner middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        except UNAVAILABLE as exc:
            return unavailable_response(request, exc)

    def process_exception(self, request, exception):
        if is_unavailable(exception):
            return unavailable_response(request, exception)
        return None


def server_error(request, *args, **kwargs):
    """handler500: connection errors raised outside views (e.g. session load) still get the 503 page."""
    exc = sys.exc_info()[1]
    if exc is not None and is_unavailable(exc):
        return unavailable_response(request, exc)
    return django_server_error(request, *args, **kwargs)


def bad_request(request, exception=None, *args, **kwargs):
    """handler400: a form too large for the server gets a 413 page that says which limit it
    hit and what to do; any other bad request gets Django's page."""
    if isinstance(exception, (RequestDataTooBig, TooManyFieldsSent)):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / 2**20
        message = (f"The form sent more than {limit:.1f} MB of text (or too many fields); nothing was saved. "
                   "Shorten the long field (a description or an example), or import examples as a "
                   ".csv or .jsonl file.")
        body = render_to_string("400.html", {"title": "Form too large", "message": message}, request=request)
        return HttpResponse(body, status=413)
    return django_bad_request(request, exception, *args, **kwargs)
