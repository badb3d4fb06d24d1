"""Share tokens are credentials: a log line never carries one (e.g. Django's
"Not Found: /s/<token>/" warning for a revoked link)."""
import logging
import re

SHARE_PATH = re.compile(r"(/s/)[A-Za-z0-9_\-]{8,}")


def redact(text):
    return SHARE_PATH.sub(r"\1[redacted]", text)


class RedactShareTokens(logging.Filter):
    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the handler's problem
            return True
        if "/s/" in message:
            record.msg, record.args = redact(message), ()
        return True
