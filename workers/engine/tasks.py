"""Tasks: prompt template, kind, label set or answer parser, and the example pool.

A task comes from a dict (a built-in pack's JSON, a web form, a config file) and
is checked on the way in; every problem names the field and the fix. It formats
the strings the methods see: the query, a demonstration, the ICL prompt (demos
joined by a blank line, then the query) and the SFT training string.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .metrics import ANSWER_PARSERS

PACKS_DIR = Path(__file__).parent / "embedded" / "packs"
REALTEXT_PACKS_DIR = Path(__file__).parent / "realtext" / "packs"  # WordNet packs (realtext/build_packs.py)
KINDS = ("classification", "generation")
PARSERS = ANSWER_PARSERS  # one list: the parsers metrics.parse_answer implements
DEMO_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Example:
    input: str
    output: str


@dataclass
class Task:
    name: str
    kind: str
    input_template: str
    examples: list[Example]
    labels: list[str] = field(default_factory=list)
    answer_parser: str = "plain"
    eval_examples: list[Example] = field(default_factory=list)
    description: str = ""
    held_out: bool = False

    def query(self, x: str) -> str:
        """The prompt for one input, ending with the answer prefix."""
        return self.input_template.replace("{x}", x)

    def demo(self, x: str, y: str) -> str:
        """A demonstration: the query with its answer appended, no separator."""
        return self.query(x) + y

    def label_index(self, output: str) -> int:
        return self.labels.index(output)

    def to_dict(self) -> dict:
        d = {"name": self.name, "description": self.description, "kind": self.kind,
             "input_template": self.input_template, "held_out": self.held_out,
             "examples": [{"input": e.input, "output": e.output} for e in self.examples],
             "eval_examples": [{"input": e.input, "output": e.output} for e in self.eval_examples]}
        if self.kind == "classification":
            d["labels"] = list(self.labels)
        else:
            d["answer_parser"] = self.answer_parser
        return d


def icl_prompt(demo_task: Task, demos: list[Example], query_task: Task, x: str) -> str:
    """Demonstrations (in the demo task's format) joined by blank lines, then the query."""
    parts = [demo_task.demo(d.input, d.output) for d in demos] + [query_task.query(x)]
    return DEMO_SEPARATOR.join(parts)


def _examples(raw, field_name: str, task_name: str) -> list[Example]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(field_name, f"task '{task_name}': expected a list of {{input, output}} objects")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "input" not in item or "output" not in item:
            raise ConfigError(f"{field_name}[{i}]", f"task '{task_name}': each example needs 'input' and 'output'")
        x, y = str(item["input"]), str(item["output"])
        if not x.strip():
            raise ConfigError(f"{field_name}[{i}].input", f"task '{task_name}': the input is empty")
        if not y.strip():
            raise ConfigError(f"{field_name}[{i}].output", f"task '{task_name}': the output is empty")
        out.append(Example(x, y))
    return out


def task_from_dict(d: dict) -> Task:
    """Build and check a task; raises ConfigError naming the bad field."""
    if not isinstance(d, dict):
        raise ConfigError("task", "expected a task name or an object with name, kind, input_template, ...")
    name = str(d.get("name") or "").strip()
    if not name:
        raise ConfigError("task.name", "give the task a name")
    kind = d.get("kind", "classification")
    if kind not in KINDS:
        raise ConfigError("task.kind", f"task '{name}': kind must be one of {', '.join(KINDS)}, not '{kind}'")
    template = d.get("input_template") or ""
    if "{x}" not in template:
        raise ConfigError("task.input_template", f"task '{name}': the template must contain {{x}} where the "
                                                 "input goes, e.g. 'Text:{x}\\nLabel:'")
    examples = _examples(d.get("examples"), "task.examples", name)
    eval_examples = _examples(d.get("eval_examples"), "task.eval_examples", name)
    labels: list[str] = []
    parser = d.get("answer_parser") or "plain"
    if kind == "classification":
        labels = [str(label) for label in (d.get("labels") or [])]
        if len(labels) < 2:
            raise ConfigError("task.labels", f"task '{name}': a classification task needs at least two labels")
        if len(set(labels)) != len(labels):
            raise ConfigError("task.labels", f"task '{name}': labels must be distinct")
        for fld, pool in (("task.examples", examples), ("task.eval_examples", eval_examples)):
            for i, e in enumerate(pool):
                if e.output not in labels:
                    raise ConfigError(f"{fld}[{i}].output", f"task '{name}': output '{e.output}' is not one of "
                                                            f"the labels {labels}")
    elif parser not in PARSERS:
        raise ConfigError("task.answer_parser", f"task '{name}': answer_parser must be one of {', '.join(PARSERS)}")
    if not examples:
        raise ConfigError("task.examples", f"task '{name}': the example pool is empty; add examples")
    return Task(name=name, kind=kind, input_template=template, examples=examples, labels=labels,
                answer_parser=parser, eval_examples=eval_examples, description=str(d.get("description", "")),
                held_out=bool(d.get("held_out", False)))


def builtin_tasks() -> list[dict]:
    """The built-in task packs as dicts (pure data: no torch needed)."""
    paths = sorted(PACKS_DIR.glob("*.json")) + sorted(REALTEXT_PACKS_DIR.glob("*.json"))
    return [json.loads(p.read_text()) for p in paths]


def get_task(spec) -> Task:
    """A task from a built-in name or an inline dict."""
    if isinstance(spec, Task):
        return spec
    if isinstance(spec, str):
        for d in builtin_tasks():
            if d["name"] == spec:
                return task_from_dict(d)
        names = ", ".join(d["name"] for d in builtin_tasks())
        raise ConfigError("task", f"no built-in task named '{spec}'; choose one of: {names}, or give the task inline")
    return task_from_dict(spec)


def resolve_tasks(cfg) -> tuple[Task, list[Task]]:
    """The train task and the evaluation tasks of a config: the train task first (it is always
    evaluated), then each other evaluation task once, by name."""
    task = get_task(cfg.task)
    evals = [task]
    for spec in cfg.eval_tasks:
        t = get_task(spec)
        if t.name not in {e.name for e in evals}:
            evals.append(t)
    return task, evals
