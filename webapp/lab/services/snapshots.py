"""Experiments keep their task pools by reference: at launch each inline task of the engine
config (`config["task"]`, `config["eval_tasks"]`) is stored once as a `PoolSnapshot` keyed by
the SHA-256 of its canonical JSON and replaced by `{"snapshot": digest, "name": ...}`; the
worker calls `resolve` to get the inline config back. A snapshot never changes, so a past
experiment reads exactly what it was launched with, whatever happens to the task since.
Configs stored before snapshots existed (inline tasks) resolve to themselves."""
import hashlib
import json

from ..models import PoolSnapshot


def digest_of(task_dict):
    canonical = json.dumps(task_dict, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _store(task_dict, seen):
    digest = digest_of(task_dict)
    if digest not in seen:
        PoolSnapshot.objects.get_or_create(digest=digest, defaults={"task": task_dict})
        seen.add(digest)
    return {"snapshot": digest, "name": task_dict.get("name", "")}


def by_reference(config):
    """A copy of the engine config with every inline task stored as a snapshot and replaced
    by its reference (call inside the launch's transaction)."""
    seen = set()
    out = dict(config)
    out["task"] = _store(config["task"], seen)
    out["eval_tasks"] = [_store(t, seen) for t in config.get("eval_tasks", [])]
    return out


def _is_ref(task):
    return isinstance(task, dict) and set(task) == {"snapshot", "name"}


def resolve(config):
    """The engine config with every snapshot reference replaced by the stored task (one query)."""
    tasks = [config.get("task"), *config.get("eval_tasks", [])]
    digests = {t["snapshot"] for t in tasks if _is_ref(t)}
    if not digests:
        return dict(config)
    stored = dict(PoolSnapshot.objects.filter(digest__in=digests).values_list("digest", "task"))
    missing = digests - set(stored)
    if missing:
        raise LookupError(f"task snapshot(s) {sorted(missing)} of this experiment are missing")

    def inline(task):
        return stored[task["snapshot"]] if _is_ref(task) else task

    out = dict(config)
    out["task"] = inline(config["task"])
    out["eval_tasks"] = [inline(t) for t in config.get("eval_tasks", [])]
    return out
