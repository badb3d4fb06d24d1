"""What an experiment ran, read from the config frozen at launch (Experiment.config), never
from the tasks as they are now: renaming or editing a task later does not change how a
past experiment reads. Each task's examples are identified by a SHA-256 of their
canonical JSON, so two experiments can be checked to have used the same data."""
import hashlib
import json
import logging

log = logging.getLogger("webapp.lab")


def examples_hash(examples):
    blob = json.dumps([[e.get("input"), e.get("output")] for e in examples or []], ensure_ascii=False,
                      separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def describe_task(task, role):
    if isinstance(task, str):  # a built-in task by name
        return {"role": role, "name": task, "builtin": True}
    pool, held = task.get("examples") or [], task.get("eval_examples") or []
    return {
        "role": role, "name": task.get("name", ""), "kind": task.get("kind", ""),
        "template": task.get("input_template", ""), "labels": task.get("labels"),
        "answer_parser": task.get("answer_parser"), "n_pool": len(pool), "n_eval": len(held),
        "pool_sha256": examples_hash(pool), "eval_sha256": examples_hash(held) if held else "",
    }


def resolved(config):
    """The config with the engine's defaults filled in, and which keys were defaults."""
    if not config:
        return {}
    try:
        from workers.engine.config import parse_config  # torch-free

        return parse_config(config).to_dict()
    except Exception as exc:  # a config that no longer parses still shows what was stored
        log.info("a stored experiment config does not parse (%s: %s); shown as stored", type(exc).__name__, exc)
        return dict(config)


def describe(experiment):
    config = experiment.config or {}
    full = resolved(config)
    tasks = [describe_task(config.get("task"), "train")] if config.get("task") else []
    train_name = tasks[0]["name"] if tasks else None
    for t in config.get("eval_tasks") or []:
        d = describe_task(t, "eval")
        if d["name"] != train_name:
            tasks.append(d)
    stored_training = config.get("training") or {}
    training = [{"key": k, "value": ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
                 if isinstance(v, list) else v, "default": k not in stored_training}
                for k, v in (full.get("training") or {}).items()]
    adapter = full.get("adapter") or config.get("adapter") or {}
    settings = [("methods", ", ".join(full.get("methods") or [])),
                ("N", ", ".join(str(n) for n in full.get("n") or [])),
                ("seeds", ", ".join(str(s) for s in full.get("seeds") or [])),
                ("ICL demonstrations", "all N" if full.get("icl_demos") is None else full.get("icl_demos")),
                ("evaluation queries per task", full.get("eval_size")),
                ("similarity queries", full.get("similarity_size")),
                ("device / dtype", f"{full.get('device', 'auto')} / {full.get('dtype', 'auto')}")]
    return {"model": full.get("model") or experiment.model_name, "tasks": tasks, "settings": settings,
            "adapter": adapter, "training": training, "lr_grid": (full.get("training") or {}).get("lr") or [], "config_sha256": hashlib.sha256(
                json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()}
