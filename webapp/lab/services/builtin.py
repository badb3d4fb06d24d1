"""Load the engine's built-in task packs and the benchmark presets as shared tasks
(idempotent: unchanged tasks are left alone, changed ones are refreshed)."""
import hashlib
import json
import logging

from django.db import transaction

from ..models import Example, Task
from .presets import PRESETS

log = logging.getLogger("webapp.lab")


def engine_builtin_tasks():
    """The engine's task packs (pure data); [] with a warning while the engine is absent."""
    try:
        from workers.engine.tasks import builtin_tasks
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("workers.engine"):
            log.warning("built-in task packs not available yet (%s)", exc)
            return []
        raise
    return list(builtin_tasks())


def _hash(d):
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


@transaction.atomic
def upsert_shared_task(d, needs_hub=False, hf_dataset=""):
    """Create or refresh a shared (owner-less) task from an engine task dict."""
    digest = _hash({**d, "needs_hub": needs_hub, "hf": hf_dataset})
    task = Task.objects.filter(owner__isnull=True, name=d["name"]).first()
    if task and task.source_hash == digest:
        return task, False
    fields = dict(
        description=d.get("description", ""),
        kind=d.get("kind", Task.CLASSIFICATION),
        input_template=d.get("input_template", "Text:{x}\nLabel:"),
        labels=list(d.get("labels") or []),
        answer_parser=d.get("answer_parser", "plain"),
        builtin=True,
        held_out=bool(d.get("held_out", False)),
        needs_hub=needs_hub,
        hf_dataset=hf_dataset,
        source_hash=digest,
    )
    if task is None:
        task = Task.objects.create(owner=None, name=d["name"], **fields)
    else:
        Task.objects.filter(pk=task.pk).update(**fields)
        task.refresh_from_db()
        if not needs_hub:
            task.examples.all().delete()
    if not needs_hub or not task.examples.exists():
        rows = [(Example.POOL, e) for e in d.get("examples") or []]
        rows += [(Example.EVAL, e) for e in d.get("eval_examples") or []]
        Example.objects.bulk_create(
            Example(task=task, position=i, split=split, input=str(e["input"]), output=str(e["output"]))
            for i, (split, e) in enumerate(rows)
        )
    return task, True


def load_all():
    """Load engine packs + presets; returns (created_or_updated, unchanged)."""
    changed = same = 0
    for d in engine_builtin_tasks():
        _, did = upsert_shared_task(d)
        changed, same = changed + did, same + (not did)
    for p in PRESETS:  # the engine's table (workers/engine/presets.py), through services/presets.py
        d = {"name": p["name"], "description": p["description"] + " Needs the Hugging Face hub.",
             "kind": p["kind"], "input_template": p["template"], "labels": p.get("labels", []),
             "answer_parser": p.get("parser", "plain"), "held_out": p["train_split"] is None, "examples": []}
        _, did = upsert_shared_task(d, needs_hub=True, hf_dataset=p["hf"])
        changed, same = changed + did, same + (not did)
    return changed, same
