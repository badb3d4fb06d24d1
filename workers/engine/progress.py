"""Progress reporting and cancellation: the small callback interface the engine
uses so a CLI, a test or a Celery task can watch and stop a run."""
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional


class Cancelled(Exception):
    """Raised between steps when the caller's cancel flag is set."""


@dataclass
class ProgressEvent:
    """One progress report: which stage, how far, current values (e.g. loss) and
    which run it belongs to (method, n, seed)."""

    stage: str
    step: int
    total: int
    values: dict = field(default_factory=dict)
    message: str = ""
    run: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[ProgressEvent], None]
CancelCheck = Callable[[], bool]


class Reporter:
    """Forwards events to a callback and raises Cancelled when asked to stop.

    `tick` may be called every step: events with values (such as a loss) are always
    forwarded; bare progress ticks are throttled to `min_interval` seconds, except
    the first and last of a stage.
    """

    def __init__(self, on_progress: Optional[ProgressCallback] = None,
                 should_cancel: Optional[CancelCheck] = None, min_interval: float = 0.2,
                 context: Optional[dict] = None):
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.min_interval = min_interval
        self.context = context or {}
        self._last = 0.0

    def check_cancel(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise Cancelled("run cancelled")

    def tick(self, stage: str, step: int, total: int, message: str = "", **values) -> None:
        self.check_cancel()
        if self.on_progress is None:
            return
        now = time.monotonic()
        edge = step == 0 or step >= total
        if values or edge or now - self._last >= self.min_interval:
            self._last = now
            self.on_progress(ProgressEvent(stage, step, total, values, message, dict(self.context)))

    def child(self, **context) -> "Reporter":
        """A reporter that adds context values (e.g. method, n, seed) to every event."""
        return Reporter(self.on_progress, self.should_cancel, self.min_interval, {**self.context, **context})
