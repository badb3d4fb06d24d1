"""Progress reporting and cancellation: the small callback interface the engine
uses so a CLI, a test or a Celery task can watch and stop a run.

Also the two rules every reader of progress shares: how far a whole run is at an event
(`run_fraction`, on the run's own stage layout) and the name of a loss series
(`series_name`, read back by `series_parts`)."""
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from .config import METHOD_STAGES

PREP_WEIGHT, EVAL_WEIGHT = 0.1, 0.1  # of a run that trains; a run without training: half and half
EVAL_STAGES = ("eval", "similarity")
_SERIES = re.compile(r"^(?P<stage>[^/]+)/(?P<key>[^/@]+)(?:@(?P<trial>\d+))?$")


def series_name(stage: str, key: str, trial: Optional[int] = None) -> str:
    """One loss series: a stage's `key` values ("loss", "dev_loss"), one series per
    learning-rate trial: "sft/dev_loss@1" (no "@" outside a trial)."""
    return f"{stage}/{key}" + ("" if trial is None else f"@{int(trial)}")


def series_parts(name: str) -> dict:
    """{stage, key, trial} of a name `series_name` built (trial None when it has none)."""
    m = _SERIES.match(name)
    if m is None:
        return {"stage": name, "key": "", "trial": None}
    trial = m.group("trial")
    return {"stage": m.group("stage"), "key": m.group("key"), "trial": None if trial is None else int(trial)}


def run_fraction(method, stage: str, step: int, total: int, trial=None, trials=None) -> float:
    """Fraction of the whole run done at this event, in [0, 1].

    Each stage reports its own step/total and every learning-rate trial starts again at
    step 0, so a bar read from those restarts. A run is laid out as preparation (load,
    ICL work), its training stages (each split evenly between its trials) and
    evaluation; trials stop early, so the fraction jumps ahead when one ends."""
    within = min(max(step / total, 0.0), 1.0) if total else 0.0
    stages = list(METHOD_STAGES.get(method, []))
    prep, evaluation = (PREP_WEIGHT, EVAL_WEIGHT) if stages else (0.5, 0.5)
    train = 1.0 - prep - evaluation
    if stage == "done":
        return 1.0
    if stage in stages:
        trials = max(int(trials or 1), 1)
        trial = min(max(int(trial or 0), 0), trials - 1)
        return prep + train * (stages.index(stage) + (trial + within) / trials) / len(stages)
    if stage in EVAL_STAGES:
        return prep + train + evaluation * (EVAL_STAGES.index(stage) + within) / len(EVAL_STAGES)
    # load and the ICL work (demonstration targets, ICL evaluation) come first
    return prep * (0.1 * within if stage == "load" else 0.1 + 0.9 * within)


class Cancelled(Exception):
    """Raised between steps when the caller's cancel flag is set."""


@dataclass
class ProgressEvent:
    """One progress report: which stage, how far, current values (e.g. loss) and
    which run it belongs to (method, n, seed; lr_trial, lr_trials, lr in training)."""

    stage: str
    step: int
    total: int
    values: dict = field(default_factory=dict)
    message: str = ""
    run: dict = field(default_factory=dict)

    @property
    def progress(self) -> float:
        """How far the whole run is (all stages and trials), from this event alone."""
        r = self.run
        return run_fraction(r.get("method"), self.stage, self.step, self.total, r.get("lr_trial"), r.get("lr_trials"))

    def to_dict(self) -> dict:
        return {**asdict(self), "progress": self.progress}


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
