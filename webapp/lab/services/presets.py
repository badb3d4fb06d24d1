"""The paper's benchmark presets on the web side. One source: the engine's table
(`workers/engine/presets.py`: ids, configs, splits, columns, label maps, templates) and
its loader (`workers/engine/presets_loader.load_preset`: the `datasets` library, label
remapping and filtering, a deduplicated evaluation set and a disjoint pool). Nothing
about a preset is written here.

`import_preset` reads everything first and writes the task's examples in one
transaction afterwards: a failure (offline, a missing column) leaves the task as it was.
`LAB_DATASETS_DIR` may hold local copies in the hub's layout (`<dir>/<dataset id>/`),
for machines without the hub; they are read by the same loader."""
from pathlib import Path

from django.conf import settings
from django.db import transaction

from workers.engine.presets import PRESETS, preset  # noqa: F401 - the one table, re-exported for the web

from ..models import Example, Task
from .quotas import ensure_room_for_examples


class PresetUnavailable(RuntimeError):
    """The preset could not be loaded; the message says why and what to do."""


def preset_for(task):
    """The preset a task stands for: its name (a built-in preset or a copy that kept the name),
    else the longest preset name its name starts with among presets of its dataset; or None."""
    p = preset(task.name)
    if p is not None and (not task.hf_dataset or p["hf"] == task.hf_dataset):
        return p
    if not task.hf_dataset:
        return None
    same = [p for p in PRESETS if p["hf"] == task.hf_dataset and task.name.startswith(p["name"])]
    return max(same, key=lambda p: len(p["name"]), default=None)


def local_source(p):
    """A local copy of the preset's dataset under LAB_DATASETS_DIR, or None (then the hub)."""
    root = getattr(settings, "LAB_DATASETS_DIR", None)
    if root and (Path(root) / p["hf"]).is_dir():
        return str(Path(root) / p["hf"])
    return None


def import_preset(task, p, on_progress=None):
    """Replace the task's examples with the preset's pool and evaluation set; (pool, eval) counts."""
    from workers.engine.presets_loader import PresetLoadError, load_preset

    try:
        d = load_preset(p["name"], source=local_source(p), on_progress=on_progress)
    except PresetLoadError as exc:
        raise PresetUnavailable(str(exc)) from None
    rows = [(Example.POOL, e) for e in d["examples"]] + [(Example.EVAL, e) for e in d["eval_examples"]]
    with transaction.atomic():
        ensure_room_for_examples(task, len(rows), task.examples.count())
        task.examples.all().delete()
        Example.objects.bulk_create(
            Example(task=task, position=i, split=split, input=str(e["input"]), output=str(e["output"]))
            for i, (split, e) in enumerate(rows))
        fields = {"kind": d["kind"], "held_out": d["held_out"], "hf_dataset": p["hf"]}
        if d["kind"] == Task.CLASSIFICATION:
            fields["labels"] = d["labels"]
        else:
            fields["answer_parser"] = d["answer_parser"]
        Task.objects.filter(pk=task.pk).update(**fields)
    task.refresh_from_db()
    return len(d["examples"]), len(d["eval_examples"])
