"""Validate an experiment spec and plan its runs, before anything is created or queued:
`validate_and_plan(user, spec)`. The experiment form and the REST API both call it (through
`plan_submission`, which first reads the raw values into a spec), so a launch from either is
checked by the same rules with the same messages.

The checks, in order: the tasks may be used (the team's and the built-ins), each task can
be sampled (hub data imported, a label set, the engine's pool rule for the largest N), the
model can read the text (the unreadable-text guard), the engine's own `check_config`, the
engine's run plan, and the run quotas. The web process never imports torch: the engine
modules used here are torch-free."""
import logging
import re
from dataclasses import dataclass, field
from typing import Optional

from django.http import Http404

from ..experiment_spec import ENGINE_FIELDS, NON_FIELD, ExperimentSpec, SpecError, parse_spec
from ..models import Task
from . import quotas
from .config import build_config
from .launch import submit_key_problem
from .model_errors import public_model_error

log = logging.getLogger("webapp.lab")


@dataclass
class Plan:
    """A checked spec, ready to launch when `errors` is empty: its tasks, the engine config,
    the engine's RunKeys (one run each), the readability of each task and the warnings the
    user confirmed. `errors` is {field or "__all__": [messages]}, like a Django form's."""

    spec: Optional[ExperimentSpec]
    train_task: Optional[Task] = None
    eval_tasks: list = field(default_factory=list)
    config: Optional[dict] = None
    runs: list = field(default_factory=list)
    readability: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    submit_key: str = ""
    errors: dict = field(default_factory=dict)

    @property
    def ok(self):
        return not self.errors

    @property
    def tasks(self):
        """The train task, then the eval tasks that are not it."""
        return [self.train_task] + [t for t in self.eval_tasks if t.pk != self.train_task.pk]

    def add_error(self, field_name, message):
        self.errors.setdefault(field_name or NON_FIELD, []).append(str(message))


def allowed_tasks(user, team=None):
    """The tasks an experiment may use: the team's and the built-ins (without a team, every
    task the user can read)."""
    from webapp.teams.permissions import readable_tasks, team_tasks

    return (team_tasks(team) if team is not None else readable_tasks(user)).order_by("builtin", "name")


def posted_tasks_or_404(raw_ids, team):
    """Task ids as sent (a form's POST values, an API body's) must be tasks the experiment may
    use: anything else is 404, so that a guessed or foreign id tells nothing about what exists."""
    allowed = allowed_tasks(None, team)
    for value in raw_ids:
        value = "" if value is None else str(value)
        if value and not (value.isdigit() and allowed.filter(pk=int(value)).exists()):
            raise Http404("No such task.")


def plan_submission(user, values, team=None):
    """What the form and the API do with what was sent: read `values` (the spec's fields, raw,
    plus `submit_key` and `confirm_unreadable`) into a spec, then `validate_and_plan` it."""
    values = dict(values)
    submit_key = (values.pop("submit_key", None) or "").strip()
    confirm = bool(values.pop("confirm_unreadable", False))
    errors = {}
    problem = submit_key_problem(submit_key)
    if problem:
        errors["submit_key"] = [problem]
    try:
        spec = parse_spec(values)
    except SpecError as exc:
        errors.update(exc.errors)
        spec = None
    if errors:
        return Plan(spec, errors=errors)
    plan = validate_and_plan(user, spec, team=team, confirm_unreadable=confirm)
    plan.submit_key = submit_key
    return plan


def validate_and_plan(user, spec, *, team=None, confirm_unreadable=False):
    """Check `spec` for a launch by `user` in `team` and expand it into runs: a `Plan`,
    launchable when `plan.ok`, else with its field errors."""
    plan = Plan(spec)
    if not _resolve_tasks(plan, allowed_tasks(user, team)):
        return plan
    _check_task(plan, plan.train_task, "train_task", spec.n_values, spec.eval_size)
    for task in plan.tasks[1:]:
        _check_task(plan, task, "eval_tasks")
    if not plan.ok:
        return plan
    _check_readability(plan, confirm_unreadable)
    plan.config = build_config(spec, train_task=plan.train_task, eval_tasks=plan.eval_tasks)
    _check_with_engine(plan)
    if plan.ok:
        _plan_runs(plan, user)
    return plan


def _resolve_tasks(plan, allowed):
    spec = plan.spec
    plan.train_task = allowed.filter(pk=spec.train_task).first()
    if plan.train_task is None:
        plan.add_error("train_task", "Select a valid choice. That choice is not one of the available choices.")
    plan.eval_tasks = list(allowed.filter(pk__in=spec.eval_tasks))
    missing = set(spec.eval_tasks) - {t.pk for t in plan.eval_tasks}
    if missing:
        plan.add_error("eval_tasks", f"Select a valid choice. {min(missing)} is not one of the available choices.")
    return plan.ok


def pool_problem(task, n_values, eval_size):
    """The engine's rule for "is the pool big enough for N" (`sampling.draw_split`: N training
    plus N/2 dev examples outside the evaluation set), for the largest N; its message or None."""
    from workers.engine.errors import ConfigError
    from workers.engine.sampling import draw_split

    try:
        draw_split(task.to_engine_task(), max(n_values), 0, eval_size)
    except ConfigError as exc:
        return exc.message
    return None


def _check_task(plan, task, field_name, n_values=None, eval_size=None):
    if task.needs_hub and not task.examples.exists():
        plan.add_error(field_name, f'"{task.name}" needs the Hugging Face hub, which cannot be reached from this '
                                   "machine: import its examples from a CSV/JSONL file first.")
        return
    if task.kind == Task.CLASSIFICATION and not task.labels:
        plan.add_error(field_name, f'"{task.name}" has an empty label set: add labels on the task page.')
    if task.pool().count() == 0:
        plan.add_error(field_name, f'"{task.name}" has no examples: add or import some on the task page.')
    elif n_values:
        problem = pool_problem(task, n_values, eval_size)
        if problem:
            plan.add_error("n_values", problem)


def _check_readability(plan, confirmed):
    """The unreadable-text guard: above the threshold, launching needs the confirmation."""
    from .readability import task_readability

    plan.readability = [task_readability(plan.spec.model_name, t) for t in plan.tasks]
    plan.warnings = [d["warning"] for d in plan.readability if d.get("unreadable")]
    if plan.warnings and not confirmed:
        for w in plan.warnings:
            plan.add_error("confirm_unreadable", f"{w} Tick this box to launch anyway.")


def map_engine_field(engine_field):
    """'adapter.r' -> 'lora_r'; 'eval_tasks[1].labels' -> 'eval_tasks'; unknown -> None."""
    key = re.sub(r"\[\d+\]", "", str(engine_field or "")).strip()
    parts = key.split(".")
    for i in range(len(parts), 0, -1):
        hit = ENGINE_FIELDS.get(".".join(parts[:i]))
        if hit:
            return hit
    return None


def engine_check(config):
    """Run the engine's validation; [] with a warning while the engine is not installed."""
    try:
        from workers.engine.validation import check_config
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("workers.engine"):
            log.warning("engine validation not installed (%s); only local checks ran", exc)
            return []
        raise
    return list(check_config(config))


def _check_with_engine(plan):
    try:
        problems = engine_check(plan.config)
    except Exception as exc:  # a crash in validation must not queue anything
        log.exception("check_config crashed")
        problems = [("", f"The engine could not check this configuration: {type(exc).__name__}: {exc}")]
    for engine_field, message in problems:
        field_name = map_engine_field(engine_field)
        if field_name == "model_name":
            message = public_model_error(plan.spec.model_name, message)
        if field_name is None:
            plan.add_error(None, f"{engine_field}: {message}" if engine_field else str(message))
        else:
            plan.add_error(field_name, str(message))


def _plan_runs(plan, user):
    """Expand into runs now, so a config the engine rejects creates nothing.
    `workers.engine.plan` is torch-free: the web process never imports torch."""
    from workers.engine.plan import plan_runs

    try:
        plan.runs = plan_runs(plan.config)  # the engine's RunKeys, stored on the runs at launch
    except Exception as exc:  # ConfigError(field, message) names the field
        engine_field = getattr(exc, "field", None)
        message = getattr(exc, "message", None) or str(exc)
        field_name = map_engine_field(engine_field) if engine_field else None
        if field_name:
            plan.add_error(field_name, message)
        else:
            plan.add_error(None, f"{engine_field}: {message}" if engine_field else
                           f"The engine rejected this configuration: {type(exc).__name__}: {exc}")
        return
    if not plan.runs:
        plan.add_error("methods", "This configuration expands into no runs: choose at least one method.")
        return
    try:
        quotas.ensure_runs_per_experiment(plan.runs)
    except quotas.QuotaExceeded as exc:
        plan.add_error("n_values", str(exc))
        return
    if user is not None:
        try:
            quotas.ensure_room_for_runs(user, len(plan.runs))
        except quotas.QuotaExceeded as exc:
            plan.add_error(None, str(exc))


def estimate(plan, device):
    """The wall-time estimate of a checked plan (services/estimate.py), with its text."""
    from .estimate import estimate as wall_time, human

    result = wall_time(plan.spec.model_name, plan.config, plan.runs, plan.tasks, device)
    if "low_s" in result:
        low, high = human(result["low_s"]), human(result["high_s"])
        result["text"] = low if low == high else f"{low} to {high}"
    return result
