"""Record a run's progress: update the Run row, persist throttled events and every
loss point, and broadcast them to the experiment's websocket group.

`ProgressRecorder` is the `on_progress` / `should_cancel` pair handed to the engine; its
`flush` persists and calls `broadcast.send` (the path of a progress event to the browser
is drawn in docs/architecture.md).
"""
import math
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..models import Experiment, MetricPoint, Run, RunEvent
from . import broadcast, run_progress


def event_dict(event):
    """Accept the engine's ProgressEvent (with to_dict) or a plain dict. `trial`/`trials`:
    the learning-rate trial of a training stage, from the event's run context."""
    if hasattr(event, "to_dict"):
        event = event.to_dict()
    context = event.get("run") or {}
    return {
        "trial": context.get("lr_trial"), "trials": context.get("lr_trials"), "lr": context.get("lr"),
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


def serialize_event(ev):
    return {
        "id": ev.id,
        "run_id": ev.run_id,
        "kind": ev.kind,
        "stage": ev.stage,
        "step": ev.step,
        "total": ev.total,
        "values": ev.values,
        "message": ev.message,
        "t": ev.created_at.isoformat(),
    }


def serialize_point(p):
    return {"id": p.id, "run_id": p.run_id, "series": p.series, "step": p.step, "value": p.value}


def message(run_snapshot, event=None, points=()):
    """The websocket message for a run's new state, event and loss points (what
    static/lab/live.js reads); ExperimentConsumer.lab_event forwards its payload as is."""
    return {
        "type": "lab.event",
        "payload": {
            "type": "event",
            "run": run_snapshot,
            "event": serialize_event(event) if event else None,
            "points": [serialize_point(p) for p in points],
        },
    }


def publish_on_commit(run, event):
    """Broadcast once the surrounding transaction (if any) has committed, so a client that
    reacts to the message (reloads results, history) reads the new state. The run's
    snapshot is taken now."""
    group, msg = broadcast.experiment_group(run.experiment_id), message(run.snapshot(), event)
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
        trial = "" if ev["trial"] is None else f"@{int(ev['trial'])}"  # one loss series per learning-rate trial
        for key, value in ev["values"].items():
            if "loss" in key:
                self._pending_points.append(
                    MetricPoint(run_id=self.run.id, series=f"{ev['stage']}/{key}{trial}"[:32], step=ev["step"],
                                value=value)
                )
        run = self.run
        run.stage, run.step, run.total, run.message = ev["stage"], ev["step"], ev["total"], ev["message"]
        if not run.message and ev["trial"] is not None and ev["trials"] and ev["lr"] is not None:
            run.message = f"learning rate {ev['lr']:g} (trial {int(ev['trial']) + 1} of {int(ev['trials'])})"
        # progress and ETA of the whole run (all stages and trials), never reset by a new stage
        done = run_progress.fraction(run.method, ev["stage"], ev["step"], ev["total"], ev["trial"], ev["trials"])
        done = max(done, run.overall_progress or 0.0) if self._run_started else done
        if self._run_started is None:
            self._run_started = (now, done)
        if stage_changed:
            self._stage_progress = done
        run.overall_progress = round(done, 4)
        # the rate of the current stage (training is most of a run and slower than the rest), from
        # its first second on; before that the previous estimate stands
        if now - self._stage_started >= 1.0 or self._run_started[0] == now:
            run.eta_seconds = run_progress.eta_seconds(now - self._stage_started, self._stage_progress, done)
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
            Run.objects.filter(id=run.id).update(
                stage=run.stage, step=run.step, total=run.total, message=run.message[:2000],
                eta_seconds=run.eta_seconds, heartbeat_at=run.heartbeat_at, overall_progress=run.overall_progress,
            )
            saved = MetricPoint.objects.bulk_create(points) if points else []
            row = None
            if ev is not None:
                row = RunEvent.objects.create(run_id=run.id, kind="progress", stage=ev["stage"], step=ev["step"],
                                              total=ev["total"], values=ev["values"], message=ev["message"])
        if saved and any(p.id is None for p in saved):  # backends that cannot return ids
            saved = list(MetricPoint.objects.filter(run_id=run.id).order_by("-id")[: len(saved)])[::-1]
        self._last_event = None
        broadcast.send(broadcast.experiment_group(run.experiment_id), message(run.snapshot(), row, saved))

    def should_cancel(self):
        now = self.clock()
        if now - self._cancel_checked >= self.cancel_poll:
            self._cancel_checked = now
            self._cancel = Run.objects.filter(id=self.run.id, cancel_requested=True).exists()
        return self._cancel

    def close(self):
        if self._pending_points or self._last_event is not None:
            self.flush(force=True)
