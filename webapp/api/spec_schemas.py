"""The experiment spec's fields as the REST API takes and gives them, built from
`ExperimentSpec` (webapp/lab/experiment_spec.py) so that a new setting reaches the API
without another list: its type, its documentation (title, help, choices, default) and, on
the way out, its value read from the stored experiment (`spec_of`)."""
import json
from typing import List, Optional, Union

from ninja import Field, Schema
from pydantic import create_model

from webapp.lab.experiment_spec import ExperimentSpec, bound, settings, spec_of

IntOrText = Union[int, str]

# Setting.kind -> the type a request may send (a form's text is accepted too), and the type
# a response gives
IN_TYPES = {"text": str, "choice": str, "int": IntOrText, "task": IntOrText, "tasks": List[IntOrText],
            "choices": List[str], "numbers": Union[List[IntOrText], IntOrText], "names": Union[List[str], str]}
OUT_TYPES = {"text": str, "choice": str, "int": int, "task": int, "tasks": List[int], "choices": List[str],
             "numbers": List[int], "names": List[str]}
HINTS = {"task": "A task id (GET /api/tasks/).", "tasks": "Task ids (GET /api/tasks/).",
         "numbers": 'A list or comma-separated text, e.g. [4, 8] or "4,8".',
         "names": 'A list or comma-separated text, e.g. ["q_proj", "v_proj"].'}


def describe(name, setting):
    """One field's documentation: its label and help, what it takes, its default."""
    info = ExperimentSpec.model_fields[name]
    parts = [info.title or "", info.description or "", HINTS.get(setting.kind, "")]
    low, high = bound(name, "ge"), bound(name, "le")
    if low is not None and high is not None:
        parts.append(f"From {low} to {high}")
    if setting.choices:
        parts.append(("Any of " if setting.kind == "choices" else "One of ")
                     + ", ".join(v for v, _ in setting.choices) + ".")
    if not info.is_required():
        parts.append(f"Default: {json.dumps(info.get_default(call_default_factory=True))}.")
    return " ".join(p if p.endswith(".") else p + "." for p in parts if p)


def request_fields():
    """{name: (type, Field)} of the spec's fields in a request body: the required ones
    required, the others optional (left out or null: the default)."""
    fields = {}
    for name, setting in settings():
        kind = IN_TYPES[setting.kind]
        if ExperimentSpec.model_fields[name].is_required():
            fields[name] = (kind, Field(description=describe(name, setting)))
        else:
            fields[name] = (Optional[kind], Field(None, description=describe(name, setting)))
    return fields


def _out_type(setting):
    kind = OUT_TYPES[setting.kind]
    return Optional[kind] if setting.blank and setting.kind == "int" else kind


def _cached_spec(obj):
    """The spec of a stored experiment, read once per response object."""
    spec = getattr(obj, "_api_spec", None)
    if spec is None:
        spec = obj._api_spec = spec_of(obj)
    return spec


def _resolver(name):
    return staticmethod(lambda obj: getattr(_cached_spec(obj), name))


def with_spec_fields(name, base, doc):
    """A response schema: `base` plus every spec field, read from the experiment's spec."""
    namespace = {"__module__": __name__, "__doc__": doc, "__annotations__": {}}
    for field, setting in settings():
        namespace["__annotations__"][field] = _out_type(setting)
        namespace[field] = Field(description=describe(field, setting))
        namespace[f"resolve_{field}"] = _resolver(field)
    return type(base)(name, (base,), namespace)


SpecOut = create_model("ExperimentSpecOut", __base__=Schema, __doc__="An experiment's settings.",
                       **{name: (_out_type(s), Field(description=describe(name, s))) for name, s in settings()})
