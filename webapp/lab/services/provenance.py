"""What an experiment ran, read from the config frozen at launch (Experiment.config), never
from the tasks as they are now: renaming or editing a task later does not change how a
past experiment reads. Each task's examples are identified by a SHA-256 of their
canonical JSON, so two experiments can be checked to have used the same data.

Each run also records what determined its numbers (`Run.provenance`, written with its
results by `for_run`: the engine's `workers/engine/provenance.run_provenance`, or the
config's part of it when the engine returned none); `diff` lists the fields in which
compared runs differ."""
import hashlib
import json
import logging

from workers.engine.provenance import PER_DRAW_FIELDS, config_provenance, environment
from workers.engine.provenance import examples_hash  # noqa: F401 - the one digest of a set of examples

from . import cache

log = logging.getLogger("webapp.lab")



def _seeds_text(seeds):
    """"1 (seed 0)", not a bare "0" that reads as no seeds."""
    ids = ", ".join(str(s) for s in seeds)
    return f"{len(seeds)} (seed{'s' if len(seeds) != 1 else ''} {ids})" if seeds else "none"

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


def _inline(config):
    """The config with its task snapshots resolved (pool sizes and digests need the examples)."""
    from . import snapshots

    try:
        return snapshots.resolve(config)
    except LookupError:
        return config


def model_identities(experiment):
    """The distinct model revisions / weight digests its finished runs recorded (one query)."""
    seen = []
    rows = experiment.runs.filter(state="done").exclude(provenance={}).values_list(
        "provenance__model_revision", "provenance__weights_sha256", "provenance__dtype", "provenance__device")
    for revision, digest, dtype, device in rows.distinct():
        item = {"revision": revision, "weights_sha256": digest, "dtype": dtype, "device": device}
        if item not in seen:
            seen.append(item)
    return seen


def describe(experiment):
    """What the experiment page's "What was run" shows (`_describe`), cached under the
    experiment's results version: its config never changes after launch, and the model
    identities its runs recorded change only with a run's state (which bumps the version)."""
    return cache.remember(experiment.cache_key("provenance"), lambda: _describe(experiment))


def _describe(experiment):
    config = _inline(experiment.config or {})
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
                ("seeds", _seeds_text(full.get("seeds") or [])),
                ("ICL demonstrations", "all N" if full.get("icl_demos") is None else full.get("icl_demos")),
                ("evaluation queries per task", full.get("eval_size")),
                ("similarity queries", full.get("similarity_size")),
                ("device / dtype", f"{full.get('device', 'auto')} / {full.get('dtype', 'auto')}")]
    return {"model": full.get("model") or experiment.model_name, "model_identities": model_identities(experiment),
            "tasks": tasks, "settings": settings,
            "adapter": adapter, "training": training, "lr_grid": (full.get("training") or {}).get("lr") or [],
            "config_sha256": hashlib.sha256(json.dumps(experiment.config or {}, sort_keys=True,
                                                       default=str).encode()).hexdigest()}


# --- per run ----------------------------------------------------------------

def for_run(config, key, results):
    """The provenance to store on a run: what the engine recorded while it ran (the first
    result's "provenance"), else the config's part and this process's versions. `config`:
    the engine config with its tasks inline (`snapshots.resolve`)."""
    recorded = next((r.get("provenance") for r in results or [] if r.get("provenance")), None)
    if recorded:
        return dict(recorded)
    try:
        return {**config_provenance(config, key), **environment()}
    except Exception as exc:  # noqa: BLE001 - a config the engine accepted should parse; say so if not
        log.warning("provenance of run %s could not be derived from its config (%s)", key, exc)
        return {**environment(), "provenance_error": f"{type(exc).__name__}: {exc}"[:300]}


def _canon(value):
    return json.dumps(value, sort_keys=True, default=str)


def diff(runs):
    """The provenance fields in which the given runs differ, each with its distinct values
    and which runs hold each: [{"field", "values": [{"value", "runs": [ids]}], "scope"}].
    Fields that depend on N and the seed by design (the run's draw) are compared only
    between runs of the same train task, N and seed. `runs`: objects with id, n, seed,
    provenance (and optionally train_task). Runs without provenance are reported apart."""
    with_prov = [r for r in runs if r.provenance]
    out = []

    def add(field, group, scope):
        values = {}
        for r in group:
            values.setdefault(_canon(r.provenance.get(field)), []).append(r.id)
        if len(values) > 1:
            out.append({"field": field, "scope": scope,
                        "values": [{"value": json.loads(v), "runs": sorted(ids)} for v, ids in sorted(values.items())]})

    fields = sorted({f for r in with_prov for f in r.provenance if f not in PER_DRAW_FIELDS})
    for field in fields:
        add(field, with_prov, "all compared runs")
    draws = {}
    for r in with_prov:
        draws.setdefault((r.provenance.get("task"), r.n, r.seed), []).append(r)
    for (task, n, seed), group in sorted(draws.items(), key=lambda kv: [str(x) for x in kv[0]]):
        for field in PER_DRAW_FIELDS:
            add(field, group, f"runs of {task} at N={n}, seed {seed}")
    missing = [r.id for r in runs if not r.provenance]
    return {"fields": out, "without_provenance": missing}
