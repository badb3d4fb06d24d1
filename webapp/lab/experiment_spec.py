"""The experiment's settings, each named once: `ExperimentSpec`.

Every path that launches, shows or copies an experiment maps to this one typed model: the
experiment form (its fields are built from it), the REST API (ExperimentIn and ExperimentOut
are built from it), run-again and copy-to-team (`derived` from a stored experiment), the
launch (`model_columns`), the engine config (`services/config.build_config` follows each
field's engine path) and the engine's error fields (`ENGINE_FIELDS`). A field declares its
type, bounds, default (the engine's, via defaults.py), label and help text, and a `Setting`:
how a raw value is read and where the value goes in the engine's config.

`parse_spec` reads raw values (a form's text, a JSON body) with the messages the Django form
fields gave, so the pages and the API say the same words. Checks that need the database or
the engine (tasks, pool sizes, readability, quotas) are `services/planning.validate_and_plan`.
"""
import re
from dataclasses import dataclass
from typing import Annotated, Callable, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from . import defaults

ADAPTER_CHOICES = [("lora", "LoRA"), ("ia3", "(IA)³")]
Method = Literal[tuple(m for m, _ in defaults.METHOD_CHOICES)]
AdapterType = Literal[tuple(a for a, _ in ADAPTER_CHOICES)]

NON_FIELD = "__all__"  # the key of errors that belong to no one field (Django's NON_FIELD_ERRORS)
REQUIRED = "This field is required."


@dataclass(eq=False)
class Setting:
    """How one field of the spec is read and where it goes.

    kind: how a raw value is read (`READERS`); engine: its path in the engine's config, which
    is also the field check_config's errors name; blank: an empty value is allowed and means
    "not set"; choices: (value, label) pairs; attrs: extra HTML attributes of its form widget;
    to_engine: (value, spec, (train task, eval tasks)) -> the engine's value (None: left out);
    in_config: stored in the experiment's engine config only, not in a column of its own."""

    kind: str
    engine: Optional[str] = None
    blank: bool = False
    choices: tuple = ()
    attrs: tuple = ()
    to_engine: Optional[Callable] = None
    in_config: bool = False


def _train_task(value, spec, tasks):
    return tasks[0].to_engine_dict()


def _eval_tasks(value, spec, tasks):
    return [t.to_engine_dict() for t in tasks[1]] or [tasks[0].to_engine_dict()]


def _seed_list(value, spec, tasks):
    return list(range(value))


def _similarity(value, spec, tasks):
    return min(spec.eval_size, defaults.SIMILARITY_SIZE) if value is None else value


class ExperimentSpec(BaseModel):
    """What an experiment runs: one model, one train task, eval tasks, methods x N x seeds,
    and the adapter. Task fields hold task ids."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Setting("text", blank=True)] = Field("", max_length=200, title="Name")
    model_name: Annotated[str, Setting("text", "model", attrs=(("list", "local-models"), ("autocomplete", "off")))] = \
        Field(defaults.MODEL, max_length=300, title="Model",
              description="A local model (the models that run here without the hub), a Hugging Face id (e.g. Qwen/Qwen3-4B-Base), a local model "
                          "directory, or a .gguf file path.")
    train_task: Annotated[int, Setting("task", "task", to_engine=_train_task)] = Field(title="Train task")
    eval_tasks: Annotated[List[int], Setting("tasks", "eval_tasks", blank=True, attrs=(("size", 6),),
                                             to_engine=_eval_tasks)] = \
        Field([], title="Eval tasks", description="Empty = evaluate on the train task.")
    methods: Annotated[List[Method], Setting("choices", "methods", choices=tuple(defaults.METHOD_CHOICES))] = \
        Field(defaults.METHODS_DEFAULT, title="Methods")
    n_values: Annotated[List[int], Setting("numbers", "n")] = \
        Field(defaults.N_VALUES, title="N values", description="Comma separated, e.g. 4,8")
    seeds: Annotated[int, Setting("int", "seeds", to_engine=_seed_list)] = \
        Field(defaults.SEEDS, ge=1, le=20, title="Seeds", description="Number of training sets (seeds) per N.")
    icl_demos: Annotated[Optional[int], Setting("int", "icl_demos", blank=True)] = \
        Field(None, ge=1, le=256, title="ICL demos",
              description="Demonstrations per ICL prompt; empty = all N training examples.")
    eval_size: Annotated[int, Setting("int", "eval_size")] = Field(defaults.EVAL_SIZE, ge=1, le=5000, title="Eval size")
    similarity_size: Annotated[Optional[int], Setting("int", "similarity_size", blank=True, to_engine=_similarity,
                                                      in_config=True)] = \
        Field(None, ge=0, le=5000, title="Similarity queries",
              description=f"Evaluation queries used for activation similarity; empty = min(eval size, "
                          f"{defaults.SIMILARITY_SIZE}).")
    adapter_type: Annotated[AdapterType, Setting("choice", "adapter.type", choices=tuple(ADAPTER_CHOICES))] = \
        Field(defaults.ADAPTER_TYPE, title="Adapter")
    lora_r: Annotated[int, Setting("int", "adapter.r")] = Field(defaults.LORA_R, ge=1, le=512, title="r")
    lora_alpha: Annotated[int, Setting("int", "adapter.alpha")] = Field(defaults.LORA_ALPHA, ge=1, le=4096,
                                                                         title="alpha")
    target_modules: Annotated[List[str], Setting("names", "adapter.target_modules")] = \
        Field(defaults.TARGET_MODULES, title="Target modules", description="Comma separated module names.")

    @field_validator("*", mode="before")
    @classmethod
    def _read(cls, value, info):
        name = info.field_name
        setting = setting_of(name)
        return READERS[setting.kind](value, setting, cls.model_fields[name])

    @field_validator("similarity_size")
    @classmethod
    def _within_eval_size(cls, value, info):
        eval_size = info.data.get("eval_size")
        if value is not None and eval_size is not None and value > eval_size:
            raise _error(f"Use at most the eval size ({eval_size}).")
        return value


def settings():
    """[(field name, Setting)] in the spec's order."""
    return [(name, setting_of(name)) for name in ExperimentSpec.model_fields]


def setting_of(name):
    return next(m for m in ExperimentSpec.model_fields[name].metadata if isinstance(m, Setting))


def bound(name, key):
    """A constraint of a field ("ge", "le", "max_length"), or None."""
    return next((getattr(m, key) for m in ExperimentSpec.model_fields[name].metadata if hasattr(m, key)), None)


# check_config's error fields -> the spec field that shows the message
ENGINE_FIELDS = {s.engine: name for name, s in settings() if s.engine}


# --- reading raw values ------------------------------------------------------------------

class SpecError(Exception):
    """Raw values that do not make a spec: {field: [messages]}."""

    def __init__(self, errors):
        super().__init__(errors)
        self.errors = errors


def parse_spec(values):
    """The spec from raw values ({field: text, number or list}); a field left out takes its
    default, a field sent empty is "not set" (an error where it is required)."""
    try:
        return ExperimentSpec.model_validate(dict(values))
    except ValidationError as exc:
        errors = {}
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else NON_FIELD
            if field not in errors:  # the first problem of a field, as a form field reports it
                errors[field] = [_message(err)]
        raise SpecError(errors) from None


def _message(err):
    if err["type"] == "missing":
        return REQUIRED
    if err["type"] == "extra_forbidden":
        return "Unknown setting: remove it."
    return err["msg"]


def _error(message):
    return PydanticCustomError("invalid", message)  # no context: the message is used as it is


def _blank(value):
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _text(value):
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    value = "" if value is None else str(value).strip()
    if "\x00" in value:
        raise _error("Null characters are not allowed.")
    return value


def _items(value):
    return [value] if isinstance(value, (str, int)) else list(value or [])


def _whole(value, message="Enter a whole number."):
    if isinstance(value, bool):
        raise _error(message)
    if isinstance(value, int):
        return value
    try:
        return int(re.sub(r"\.0*\s*$", "", str(value).strip()))
    except ValueError:
        raise _error(message) from None


def _read_text(value, setting, info):
    value = _text(value)
    if not value:
        if setting.blank:
            return ""
        raise _error(REQUIRED)
    limit = next((m.max_length for m in info.metadata if hasattr(m, "max_length")), None)
    if limit is not None and len(value) > limit:
        raise _error(f"Ensure this value has at most {limit} characters (it has {len(value)}).")
    return value


def _read_int(value, setting, info):
    if _blank(value):
        if setting.blank:
            return None
        raise _error(REQUIRED)
    value = _whole(value)
    for m in info.metadata:
        if getattr(m, "ge", None) is not None and value < m.ge:
            raise _error(f"Ensure this value is greater than or equal to {m.ge}.")
        if getattr(m, "le", None) is not None and value > m.le:
            raise _error(f"Ensure this value is less than or equal to {m.le}.")
    return value


def _read_choice(value, setting, info):
    value = _read_text(value, setting, info)
    if value not in dict(setting.choices):
        raise _error(f"Select a valid choice. {value} is not one of the available choices.")
    return value


def _read_choices(value, setting, info):
    if _blank(value):
        raise _error(REQUIRED)
    values = [str(v) for v in _items(value)]
    for v in values:
        if v not in dict(setting.choices):
            raise _error(f"Select a valid choice. {v} is not one of the available choices.")
    return values


def _read_task(value, setting, info):
    if _blank(value):
        raise _error(REQUIRED)
    return _whole(value, "Select a valid choice. That choice is not one of the available choices.")


def _read_tasks(value, setting, info):
    ids = []
    for v in _items(value):
        if _blank(v):
            continue
        pk = _whole(v, f"“{v}” is not a valid value.")
        if pk not in ids:
            ids.append(pk)
    return ids


def _read_numbers(value, setting, info):
    text = _text(value)
    if not text:
        raise _error(REQUIRED)
    try:
        values = sorted({int(p) for p in re.split(r"[,\s]+", text) if p})
    except ValueError:
        raise _error("Enter whole numbers separated by commas, e.g. 4,8.") from None
    if not values:
        raise _error("Enter at least one N, e.g. 4.")
    if values[0] < 1:
        raise _error("Each N must be at least 1.")
    return values


def _read_names(value, setting, info):
    text = _text(value)
    if not text:
        raise _error(REQUIRED)
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names or any(not re.fullmatch(r"[A-Za-z_][\w.]*", m) for m in names):
        raise _error("List module names separated by commas, e.g. q_proj,k_proj,o_proj.")
    return names


READERS = {"text": _read_text, "int": _read_int, "choice": _read_choice, "choices": _read_choices,
           "task": _read_task, "tasks": _read_tasks, "numbers": _read_numbers, "names": _read_names}


# --- stored experiments ------------------------------------------------------------------

def spec_of(exp):
    """The spec a stored experiment was launched with (its tasks by id, eval tasks sorted)."""
    values = {}
    for name, setting in settings():
        if setting.kind == "task":
            values[name] = getattr(exp, f"{name}_id")
        elif setting.kind == "tasks":
            values[name] = sorted(t.pk for t in getattr(exp, name).all())
        elif setting.in_config:
            values[name] = (exp.config or {}).get(setting.engine)
        else:
            values[name] = getattr(exp, name)
    return ExperimentSpec.model_construct(**values)  # validated when it was launched


def derived(exp, tag):
    """The spec of a new experiment made from `exp` ("again", "copy"): its settings, named
    "<name> (tag)" within the name's length (shortened with "…" when it would not fit)."""
    suffix = f" ({tag})"
    room = bound("name", "max_length") - len(suffix)
    base = str(exp)
    stem = base if len(base) <= room else base[: room - 1].rstrip() + "…"
    return spec_of(exp).model_copy(update={"name": stem + suffix})


def model_columns(spec):
    """The Experiment columns of a spec (the eval tasks, a many-to-many, are set apart)."""
    columns = {}
    for name, setting in settings():
        if setting.kind == "task":
            columns[f"{name}_id"] = getattr(spec, name)
        elif setting.kind != "tasks" and not setting.in_config:
            columns[name] = getattr(spec, name)
    return columns
