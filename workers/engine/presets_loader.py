"""Turns a benchmark preset (presets.py) into an ordinary task dict with the
`datasets` library.

The same code reads the Hugging Face hub (`source` = the preset's dataset id) and
a local folder in the hub's own layout (`source` = a directory: parquet or JSON
shards, with a README.md `configs:` section where the dataset has
configurations), so the tests exercise the very path the hub takes.

Rows are mapped (columns, label map, filtering, remapped multiple-choice labels),
then an evaluation set and an example pool are drawn in a fixed order (a hash of
each input), deduplicated, the pool disjoint from the evaluation set. The task
dict is returned only when everything has been read: a failure (the hub cannot be
reached, a column is missing) raises PresetLoadError and leaves nothing behind.
"""
import hashlib
import math
from pathlib import Path

from .errors import EngineError
from .presets import EVAL_SIZE, POOL_SIZE, preset, preset_names


class PresetLoadError(EngineError):
    """A preset could not be loaded: the message says why and what to do."""

    def __init__(self, name: str, message: str):
        self.field = "preset"
        self.preset = name
        super().__init__(f"preset '{name}': {message}")


def _hash(*parts) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def format_choices(question: str, options: list[str], words: list[str]) -> str:
    """The question followed by its options, each marked by a remapped label word."""
    lines = [f"[{w}] {str(o).strip()}" for w, o in zip(words, options)]
    return question.strip() + "\nChoices:\n" + "\n".join(lines)


def row_to_example(p: dict, row: dict) -> dict | None:
    """One dataset row as {input, output}, or None when the preset drops it."""
    if p["input"] not in row:
        raise KeyError(p["input"])
    x = str(row[p["input"]] or "").strip()
    if not x:
        return None
    choices = p.get("choices")
    if choices and "correct" in choices:  # SciQ: the correct answer and distractors, shuffled per question
        options = [row[choices["correct"]]] + [row[c] for c in choices["others"]]
        order = sorted(range(len(options)), key=lambda i: _hash(p["name"], x, i))
        words = p["labels"]
        return {"input": format_choices(x, [options[i] for i in order], words), "output": words[order.index(0)]}
    if choices:  # QASC: a choices {text, label} struct and the key of the correct one
        listed = row[choices["list"]]
        keys = list(listed["label"])
        if row[choices["key"]] not in keys or len(keys) > len(p["labels"]):
            return None
        words = p["labels"][:len(keys)]
        return {"input": format_choices(x, list(listed["text"]), words),
                "output": words[keys.index(row[choices["key"]])]}
    raw = row[p["output"]]
    if p["kind"] == "classification":
        label = p["label_map"].get(str(raw))
        return {"input": x, "output": label} if label is not None else None
    y = str(raw or "").strip()
    return {"input": x, "output": y} if y else None


def _examples(p: dict, rows, on_progress, stage: str) -> list[dict]:
    out, total = [], len(rows)
    step = max(1, total // 20)
    for i, row in enumerate(rows):
        try:
            e = row_to_example(p, row)
        except KeyError as exc:
            raise PresetLoadError(p["name"], f"the data has no column {exc}; its columns are "
                                             f"{', '.join(sorted(row))}") from None
        if e is not None:
            out.append(e)
        if on_progress and (i + 1) % step == 0 or on_progress and i + 1 == total:
            on_progress(stage, i + 1, total)
    return out


def _ordered_unique(examples: list[dict], salt: str, exclude: set) -> list[dict]:
    seen = set(exclude)
    out = []
    for e in sorted(examples, key=lambda e: _hash(salt, e["input"], e["output"])):
        if e["input"] not in seen:
            seen.add(e["input"])
            out.append(e)
    return out


def _balanced(examples: list[dict], labels: list[str], size: int) -> list[dict]:
    """Up to `size` examples with the classes as equal as the data allows (ordered input kept)."""
    by_label = {label: [e for e in examples if e["output"] == label] for label in labels}
    quota = math.ceil(size / max(1, len(labels)))
    picked = [e for label in labels for e in by_label[label][:quota]]
    chosen = {id(e) for e in picked}
    rest = [e for e in examples if id(e) not in chosen]
    picked = picked[:size] + rest[:max(0, size - len(picked))]
    order = {id(e): i for i, e in enumerate(examples)}
    return sorted(picked, key=lambda e: order[id(e)])


def _explain_failure(p: dict, source: str, exc: Exception) -> str:
    if Path(source).exists():
        return f"the local data in {source} could not be read ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    from .load_errors import OFFLINE_MESSAGE, explain_load_error

    message = explain_load_error(source, exc)
    text = f"{type(exc).__name__}: {exc}".lower()
    offline = message == OFFLINE_MESSAGE or "connection" in text or "offline" in text or "couldn't reach" in text
    if offline:
        return (f"it needs the Hugging Face hub (dataset {p['hf']}), which cannot be reached from this machine; "
                "load it where the hub is reachable, or give a local copy in the hub's layout (source=DIR). "
                "Nothing was imported.")
    return f"dataset {source} could not be loaded: {message}"


def _load_split(source: str, config, split: str):
    from datasets import load_dataset

    return load_dataset(source, config, split=split, **_local_cache(source))


def _local_cache(source: str) -> dict:
    """A cache folder of its own for a local copy, named by its files (path, size, time): `datasets`
    keys its cache of a local folder on the folder's name and configuration only, so another or a
    changed copy with the same name would otherwise give the old rows."""
    root = Path(source)
    if not root.is_dir():
        return {}
    from datasets import config as ds_config

    stats = sorted((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in root.rglob("*") if f.is_file())
    return {"cache_dir": str(Path(ds_config.HF_DATASETS_CACHE) / "local" / _hash(root.resolve(), *stats)[:16])}


def load_preset(name: str, source: str | None = None, on_progress=None, pool_size: int = POOL_SIZE,
                eval_size: int = EVAL_SIZE) -> dict:
    """The task dict of a preset, read from the hub or from `source` (a local folder in the hub's layout).

    on_progress(stage, done, total) is called with stages 'download', 'rows' and 'done'.
    """
    p = preset(name)
    if p is None:
        raise PresetLoadError(name, f"no such preset; choose one of {', '.join(preset_names())}")
    source = str(source or p["hf"])
    report = on_progress or (lambda *a: None)
    splits = [p["eval_split"]] + ([p["train_split"]] if p["train_split"] not in (None, p["eval_split"]) else [])
    loaded = {}
    try:
        for i, split in enumerate(splits):
            report("download", i, len(splits))
            loaded[split] = _load_split(source, p["config"], split)
        report("download", len(splits), len(splits))
    except Exception as exc:  # every failure becomes one message; nothing is returned
        raise PresetLoadError(name, _explain_failure(p, source, exc)) from None
    eval_rows = _examples(p, loaded[p["eval_split"]], report, "rows")
    labels = p.get("labels") or []
    evals = _ordered_unique(eval_rows, name + "|eval", set())
    if labels:
        evals = _balanced(evals, labels, eval_size)
    evals = evals[:eval_size]
    if p["train_split"] and p["train_split"] != p["eval_split"]:
        pool_rows = _examples(p, loaded[p["train_split"]], report, "rows")
    else:  # one split only (or evaluation-only presets): the pool is the rest of it
        pool_rows = eval_rows
    pool = _ordered_unique(pool_rows, name + "|pool", {e["input"] for e in evals})
    pool = (_balanced(pool, labels, pool_size) if labels else pool)[:pool_size]
    if not evals or not pool:
        raise PresetLoadError(name, f"the data gave {len(evals)} evaluation and {len(pool)} pool examples after "
                                    "mapping its labels; check the source")
    task = {"name": name, "description": p["description"], "kind": p["kind"], "input_template": p["template"],
            "held_out": p["train_split"] is None, "source": f"{p['hf']} ({p['config'] or 'default'})",
            "examples": pool, "eval_examples": evals}
    if p["kind"] == "classification":
        task["labels"] = list(labels)
    else:
        task["answer_parser"] = p.get("parser", "plain")
    report("done", 1, 1)
    return task
