"""The progress messages the experiment page reads (static/lab/live.js): their three
shapes are defined here, and built here only.

- "history": GET history.json (`services/history.full_history`): every run's snapshot, the
  recent events, every loss series (downsampled), the ids to resume the websocket from, and
  the loss definitions the charts are labelled with (the engine's `loss_definitions.LOSSES`).
- "replay": the websocket's answer to {"type": "resume", "last_event": id, "last_point": id}
  (`services/history.replay_since`, sent by `consumers.ExperimentConsumer`): run snapshots and
  the events and loss points newer than those ids.
- "event": one progress flush or state change (`services/events.ProgressRecorder.flush`,
  `events.publish_on_commit`), forwarded as is by `ExperimentConsumer.lab_event`: the run's
  snapshot, its event and its new loss points.

A loss point and a history series carry their series' parts (stage, key, trial), so the
page never parses a series name (`workers.engine.progress.series_name` builds it,
`series_parts` reads it back, both in the engine). A run's `training` is what training chose
as the engine returned it (`training_stages`, `workers/engine/training.StageResult.summary`).

The pydantic models below document the shapes, and `validate` checks a message against them
(the tests check what the real server sends); the builders return plain dicts, so a
progress flush pays for no validation.
"""
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from workers.engine.loss_definitions import loss_definitions
from workers.engine.progress import series_parts

CHANNEL_TYPE = "lab.event"  # the channel-layer type: handled by ExperimentConsumer.lab_event


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrialBrief(_Shape):
    """One learning-rate trial of a training stage."""

    trial: int
    lr: float
    best_dev_loss: Optional[float]
    best_epoch: int
    best_step: Optional[int]  # None: a run stored before the engine reported it (migration 0016)
    epochs_run: int


class StageSummary(TrialBrief):
    """What training chose for one stage, as the engine returned it (runner `training_stages`):
    the chosen trial's brief, and every trial's."""

    stage: str
    improved: bool
    reused: bool
    trials: list[TrialBrief]


class RunSnapshot(_Shape):
    """A run's state, as `Run.snapshot()` builds it (a field added there is added here)."""

    id: int
    method: str
    method_label: str
    n: int
    seed: int
    state: str
    stage: str
    step: int
    total: int
    progress: float
    eta_seconds: Optional[float]
    message: str
    error: str
    cancel_requested: bool
    started_at: Optional[str]
    finished_at: Optional[str]
    training: list[StageSummary]
    attempts: int
    final: bool         # what the run offers, from models.Run's state table
    can_cancel: bool
    can_retry: bool
    has_adapter: bool
    final: bool  # what the run offers, decided by models.Run (its state table, its artifacts)
    can_cancel: bool
    can_retry: bool
    has_adapter: bool


class Event(_Shape):
    """A persisted RunEvent: a progress flush ("progress") or a state change ("state")."""

    id: int
    run_id: int
    kind: str
    stage: str
    step: int
    total: int
    values: dict[str, float]
    message: str
    t: str


class Point(_Shape):
    """One loss value: `series` is the name (an opaque key), stage/key/trial its parts."""

    id: int
    run_id: int
    series: str
    stage: str
    key: str
    trial: Optional[int]
    step: int
    value: float


class Series(_Shape):
    """One loss series of a run in history.json, downsampled to at most LAB_MAX_CHART_POINTS."""

    stage: str
    key: str
    trial: Optional[int]
    steps: list[int]
    values: list[float]
    total_points: int


class LossDefinition(_Shape):
    key: str
    label: str
    formula: str
    unit: str
    panel: str


class EventMessage(_Shape):
    type: Literal["event"]
    run: RunSnapshot
    event: Optional[Event]
    points: list[Point]


class ReplayMessage(_Shape):
    type: Literal["replay"]
    runs: list[RunSnapshot]
    events: list[Event]
    points: list[Point]


class HistoryMessage(_Shape):
    type: Literal["history"]
    experiment: int
    runs: list[RunSnapshot]
    events: list[Event]
    series: dict[str, dict[str, Series]]   # run id -> series name -> series
    last_event: int
    last_point: int
    losses: list[LossDefinition]


_MESSAGE = TypeAdapter(Annotated[Union[EventMessage, ReplayMessage, HistoryMessage], Field(discriminator="type")])


def validate(message: dict) -> BaseModel:
    """The message as its model; pydantic's ValidationError names the field that is wrong."""
    return _MESSAGE.validate_python(message)


# ---- builders: the only places these dicts are made -------------------------------------

def event_row(ev) -> dict:
    """A RunEvent as the page reads it."""
    return {"id": ev.id, "run_id": ev.run_id, "kind": ev.kind, "stage": ev.stage, "step": ev.step,
            "total": ev.total, "values": ev.values, "message": ev.message, "t": ev.created_at.isoformat()}


def point_row(p) -> dict:
    """A MetricPoint with its series' parts."""
    return {"id": p.id, "run_id": p.run_id, "series": p.series, **series_parts(p.series), "step": p.step,
            "value": p.value}


def series_entry(name: str, steps: list, values: list, total_points: int) -> dict:
    return {**series_parts(name), "steps": steps, "values": values, "total_points": total_points}


def event_message(run_snapshot: dict, event=None, points=()) -> dict:
    """The channel-layer message of a run's new state, its event and new loss points; the
    consumer sends its payload to the page as is."""
    payload = {"type": "event", "run": run_snapshot, "event": event_row(event) if event else None,
               "points": [point_row(p) for p in points]}
    return {"type": CHANNEL_TYPE, "payload": payload}


def replay_message(runs, events, points) -> dict:
    return {"type": "replay", "runs": [r.snapshot() for r in runs], "events": [event_row(e) for e in events],
            "points": [point_row(p) for p in points]}


def history_message(experiment_id: int, runs, events, series: dict, last_point: int) -> dict:
    """`series`: {run id: {series name: series_entry(...)}}."""
    return {"type": "history", "experiment": experiment_id, "runs": [r.snapshot() for r in runs],
            "events": [event_row(e) for e in events], "series": series,
            "last_event": events[-1].id if events else 0, "last_point": last_point,
            "losses": loss_definitions()}
