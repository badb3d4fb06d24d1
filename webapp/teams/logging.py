"""Share tokens are credentials: a log line never carries one (e.g. Django's
"Not Found: /s/<token>/" warning for a revoked link).

Mistyped links carry the token too, so the pattern is loose on purpose: `/s` in any case,
then any run of separators a user or a client may put there (slashes, blanks, `+`, their
percent-encodings), then the token: `/s//<token>/`, `/S/<token>/` and `/s/ <token>/` are all
redacted. Personal API tokens (`lab_...`) are redacted wherever they appear."""
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
