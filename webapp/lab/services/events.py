"""Record a run's progress: update the Run row, persist throttled events and every
loss point, and broadcast them to the experiment's websocket group.

`ProgressRecorder` is the `on_progress` / `should_cancel` pair handed to the engine; its
`flush` persists and calls `broadcast.send` (the path of a progress event to the browser
is drawn in docs/architecture.md). The message it sends is built by
`lab/progress_messages.py`, series names by the engine (`progress.series_name`), and how far
the whole run is comes with each event (`ProgressEvent.progress`); only the ETA, a matter of
this recorder's clock, is computed here.
"""
import math
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from workers.engine.progress import ProgressEvent, series_name

from ..models import Experiment, MetricPoint, RunEvent
from ..progress_messages import event_message
from . import broadcast


def event_dict(event):
    """Accept the engine's ProgressEvent or a plain dict of its fields. `trial`/`trials`:
    the learning-rate trial of a training stage, from the event's run context; `progress`:
    the whole run's fraction done (the engine's `run_fraction`)."""
    if isinstance(event, dict):
        event = ProgressEvent(str(event.get("stage", "")), int(event.get("step") or 0), int(event.get("total") or 0),
                              dict(event.get("values") or {}), str(event.get("message") or ""),
                              dict(event.get("run") or {}))
    event = event.to_dict()
    context = event.get("run") or {}
    return {
        "trial": context.get("lr_trial"), "trials": context.get("lr_trials"), "lr": context.get("lr"),
        "progress": float(event["progress"]),
        "stage": str(event.get("stage", "")),
        "step": int(event.get("step") or 0),
        "total": int(event.get("total") or 0),
        "values": {k: float(v) for k, v in (event.get("values") or {}).items() if _finite(v)},
        "message": str(event.get("message") or ""),
    }


def _finite(v):
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def eta_seconds(elapsed, start_fraction, now_fraction):
    """Seconds left at the average rate since `start_fraction` (None until it moved)."""
    moved = now_fraction - start_fraction
    if elapsed <= 0 or moved < 0.01 or now_fraction >= 1.0:
        return None
    return round(elapsed / moved * (1.0 - now_fraction), 1)


def history_points(run, history):
    """Loss points of a run whose progress was not streamed live, from the loss history the
    engine returned: the series the live recorder writes (one per stage, key and trial)."""
    points = []
    for h in history or []:
        if not isinstance(h, dict):
            continue
        for key in ("loss", "dev_loss"):
            value = h.get(key)
            if _finite(value):
                points.append(MetricPoint(run=run, series=series_name(h.get("stage", "train"), key, h.get("trial")),
                                          step=int(h.get("step", 0)), value=float(value)))
    return points


def publish_on_commit(run, event):
    """Broadcast once the surrounding transaction (if any) has committed, so a client that
    reacts to the message (reloads results, history) reads the new state. The run's
    snapshot is taken now."""
    group, msg = broadcast.experiment_group(run.experiment_id), event_message(run.snapshot(), event)
    transaction.on_commit(lambda: broadcast.send(group, msg), robust=True)


def bump_results_version(experiment_id):
    """Invalidate the experiment's cached payloads (their keys contain the version)."""
    Experiment.objects.filter(pk=experiment_id).update(results_version=F("results_version") + 1)


class ProgressRecorder:
    """Callable handed to the engine as on_progress; also provides should_cancel."""

    def __init__(self, run, min_interval=None, cancel_poll=0.5, clock=time.monotonic):
        self.run = run
        self.min_interval = settings.LAB_EVENT_MIN_INTERVAL if min_interval is None else min_interval
        self.cancel_poll = cancel_poll
        self.clock = clock
        self._pending_points = []
        self._last_flush = -math.inf
        self._stage = None
        self._stage_started = clock()
        self._last_event = None
        self._cancel_checked = -math.inf
        self._cancel = False
        self._run_started = None  # (clock, whole-run fraction) at the first event
        self._stage_progress = 0.0  # whole-run fraction when the current stage began

    def __call__(self, event):
        ev = event_dict(event)
        now = self.clock()
        stage_changed = ev["stage"] != self._stage
        if stage_changed:
            if self._pending_points:
                self.flush(force=True)
            self._stage = ev["stage"]
            self._stage_started = now
        for key, value in ev["values"].items():   # one loss series per stage, key and learning-rate trial
            if "loss" in key:
                name = series_name(ev["stage"], key, ev["trial"])
                self._pending_points.append(MetricPoint(run_id=self.run.id, series=name, step=ev["step"], value=value))
        run = self.run
        run.stage, run.step, run.total, run.message = ev["stage"], ev["step"], ev["total"], ev["message"]
        if not run.message and ev["trial"] is not None and ev["trials"] and ev["lr"] is not None:
            run.message = f"learning rate {ev['lr']:g} (trial {int(ev['trial']) + 1} of {int(ev['trials'])})"
        # progress and ETA of the whole run (all stages and trials), never reset by a new stage
        done = max(ev["progress"], run.overall_progress or 0.0) if self._run_started else ev["progress"]
        if self._run_started is None:
            self._run_started = (now, done)
        if stage_changed:
            self._stage_progress = done
        run.overall_progress = round(done, 4)
        # the rate of the current stage (training is most of a run and slower than the rest), from
        # its first second on; before that the previous estimate stands
        if now - self._stage_started >= 1.0 or self._run_started[0] == now:
            run.eta_seconds = eta_seconds(now - self._stage_started, self._stage_progress, done)
        if ev["stage"] == "done":
            run.eta_seconds = None
        self._last_event = ev
        if stage_changed or ev["stage"] == "done" or now - self._last_flush >= self.min_interval:
            self.flush(force=True)

    def flush(self, force=False):
        """Persist the latest event + buffered points in one transaction and broadcast them."""
        ev = self._last_event
        points, self._pending_points = self._pending_points, []
        self._last_flush = self.clock()
        run = self.run
        run.heartbeat_at = timezone.now()
        with transaction.atomic():
            # only while this attempt owns the run (models.Run.attempt_rows): the row stays locked
            # until commit, so a re-claim comes after these rows (and discards them) or they are dropped
            owned = run.attempt_rows().update(
                stage=run.stage, step=run.step, total=run.total, message=run.message[:2000],
                eta_seconds=run.eta_seconds, heartbeat_at=run.heartbeat_at, overall_progress=run.overall_progress,
            )
            if not owned:
                self._last_event = None
                return
            saved = MetricPoint.objects.bulk_create(points) if points else []
            row = None
            if ev is not None:
                row = RunEvent.objects.create(run_id=run.id, kind="progress", stage=ev["stage"], step=ev["step"],
                                              total=ev["total"], values=ev["values"], message=ev["message"])
        if saved and any(p.id is None for p in saved):  # backends that cannot return ids
            saved = list(MetricPoint.objects.filter(run_id=run.id).order_by("-id")[: len(saved)])[::-1]
        self._last_event = None
        broadcast.send(broadcast.experiment_group(run.experiment_id), event_message(run.snapshot(), row, saved))

    def should_cancel(self):
        now = self.clock()
        if now - self._cancel_checked >= self.cancel_poll:
            self._cancel_checked = now
            # a cancel, or the run taken from this attempt (claimed again, reaped): stop working on it
            self._cancel = not self.run.attempt_rows().filter(cancel_requested=False).exists()
        return self._cancel

    def close(self):
        if self._pending_points or self._last_event is not None:
            self.flush(force=True)
