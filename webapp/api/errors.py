"""The API's answers to bad requests: always JSON, never a 500 for bad input.

- 422 `{"errors": {field: [messages]}, "detail": "..."}` for a body, query or form that does
  not validate (the experiment and task routes put their Django form's own errors there);
- 400 `{"detail": ...}` for a body that is not JSON;
- 401 / 403 / 404 / 409 / 413 / 429 (with Retry-After) / 503 `{"detail": ...}`.
"""
import math

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from webapp.lab.middleware import UNAVAILABLE

from .parsing import UnstorableText, field_path


class ApiError(HttpError):
    """An answer with a status and a message (and, for 422, the fields at fault)."""

    def __init__(self, status, detail, errors=None):
        super().__init__(status, detail)
        self.errors = errors


def invalid(errors, detail=None):
    """422 from {field: [messages]} (a Django form's `errors` fits as it is)."""
    errors = {str(k): [str(m) for m in v] for k, v in dict(errors).items()}
    first = next(iter(errors.items()), ("", [""]))
    return ApiError(422, detail or f"{first[0]}: {first[1][0]}", errors)


def _field(loc):
    """ninja's error location ("body", "payload", "name") -> "name"; list indexes as [i]."""
    return field_path([p for p in loc if p not in ("body", "query", "path", "form", "file", "payload", "data")])


def _message(err):
    msg = err.get("msg", "invalid")
    if err.get("type") == "missing":
        return "This field is required."
    if err.get("type") == "extra_forbidden":
        return "Unknown field: remove it (the API documentation at /api/docs lists the fields)."
    return msg.rstrip(".") + "."


def install(api):
    """Register the handlers on the NinjaAPI."""

    @api.exception_handler(ValidationError)
    def validation(request, exc):
        errors = {}
        for err in exc.errors:
            errors.setdefault(_field(err.get("loc", ())), []).append(_message(err))
        first = next(iter(errors.items()))
        return api.create_response(request, {"detail": f"{first[0]}: {first[1][0]}", "errors": errors}, status=422)

    @api.exception_handler(ApiError)
    def api_error(request, exc):
        body = {"detail": exc.message}
        if exc.errors is not None:
            body["errors"] = exc.errors
        return api.create_response(request, body, status=exc.status_code)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        detail = ("Send a personal API token: Authorization: Bearer <token> (create one at /account/tokens/). "
                  "A signed-in browser session may only read.")
        if request.headers.get("Authorization"):
            detail = "This API token is unknown or revoked: create a new one at /account/tokens/."
        response = api.create_response(request, {"detail": detail}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response

    @api.exception_handler(HttpError)
    def http_error(request, exc):
        if isinstance(exc.__cause__, UnstorableText):  # parsing.StorableJsonParser refused the body
            field = exc.__cause__.field
            message = ("Contains a lone surrogate (e.g. \\ud800), which is not text: send the character "
                       "itself, or both halves of its surrogate pair.")
            return api.create_response(request, {"detail": f"{field}: {message}", "errors": {field: [message]}},
                                       status=422)
        detail = str(exc)
        if exc.status_code == 400 and detail.startswith("Cannot parse request body"):
            detail = "The request body is not valid JSON: send a JSON object with Content-Type: application/json."
        return api.create_response(request, {"detail": detail}, status=exc.status_code)

    @api.exception_handler(Throttled)
    def throttled(request, exc):  # ninja adds Retry-After (throttling.TokenRateThrottle)
        wait = f" Retry in {math.ceil(exc.wait)} s." if exc.wait else ""
        detail = (f"Too many requests with this token: at most {settings.LAB_API_RATE_LIMIT} per "
                  f"{settings.LAB_API_RATE_WINDOW:g} s.{wait}")
        return api.create_response(request, {"detail": detail}, status=429)

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return api.create_response(request, {"detail": str(exc) or "Not found."}, status=404)

    @api.exception_handler(PermissionDenied)
    def forbidden(request, exc):
        return api.create_response(request, {"detail": str(exc) or "Your role cannot do this."}, status=403)

    for kind in UNAVAILABLE:
        api.add_exception_handler(kind, _unavailable(api))


def _unavailable(api):
    def handler(request, exc):
        from webapp.lab.middleware import unavailable_response

        page = unavailable_response(request, exc)  # logs it, and says which service
        what = "database" if "database" in page.content.decode(errors="replace") else "message broker (Redis)"
        response = api.create_response(request, {"detail": f"The {what} is temporarily unreachable; nothing was "
                                                           "stored. Retry in a moment."}, status=503)
        response["Retry-After"] = "5"
        return response

    return handler
