"""Share tokens are credentials: a log line never carries one (e.g. Django's
"Not Found: /s/<token>/" warning for a revoked link).

Mistyped links carry the token too, so the pattern is loose on purpose: `/s` in any case,
then any run of separators a user or a client may put there (slashes, blanks, `+`, their
percent-encodings), then the token: `/s//<token>/`, `/S/<token>/` and `/s/ <token>/` are all
redacted. Personal API tokens (`lab_...`) are redacted wherever they appear.

`NoTracebackForRefusals` keeps an expected 403 to one line: Django 5 logs every
PermissionDenied with its traceback (django.utils.log.log_response(exception=...)), which buried
real errors under refusals that only mean "your role cannot do this"."""
import logging
import re

SEPARATOR = r"(?:/|\\|\s|\+|%2f|%5c|%20|%09)"
SHARE_PATH = re.compile(rf"(/s{SEPARATOR}+)[A-Za-z0-9_\-]{{8,}}", re.IGNORECASE)
API_TOKEN = re.compile(r"\blab_[A-Za-z0-9_\-]{8,}")


def redact(text):
    return API_TOKEN.sub("lab_[redacted]", SHARE_PATH.sub(r"\1[redacted]", text))


class RedactShareTokens(logging.Filter):
    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the handler's problem
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


class NoTracebackForRefusals(logging.Filter):
    """A 403 is an answer, not a fault: its warning line stays (path and reason), its
    traceback goes. 5xx records keep theirs."""

    def filter(self, record):
        if getattr(record, "status_code", None) == 403 and record.exc_info:
            reason = str(record.exc_info[1] or "") if len(record.exc_info) > 1 else ""
            if reason:
                record.msg, record.args = f"{record.getMessage()} ({reason})", ()
            record.exc_info, record.exc_text = None, None
        return True
