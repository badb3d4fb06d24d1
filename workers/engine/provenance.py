"""What determines a run's numbers, recorded with its results: the model (id or path, hub
revision or a SHA-256 of its weight files), dtype and device, the library versions and
the code version, the prompt template and label set, SHA-256 digests of the examples the
run saw (the task's pool, the N training and N/2 dev examples of its seed, the ICL
demonstrations, each evaluation set) and every hyperparameter.

One flat dict of JSON values (`run_provenance`), so that two runs can be compared field
by field. Torch-free at import: `config_provenance` (everything the config decides) and
`environment` run anywhere; `model_provenance` reads a loaded model. The weights' digest
is computed once per (file, size, mtime): in memory, and in `cache_dir` when given.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .sampling import ICL_ORDERINGS, demo_orders, draw_split, eval_set, training_pool

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".msgpack", ".h5")
LIBRARIES = ("torch", "transformers", "peft")
# fields that depend on the run's N and seed by design (its own draw of the pool): compare
# them only between runs of the same N and seed
PER_DRAW_FIELDS = ("train_examples_sha256", "dev_examples_sha256", "demonstrations_sha256")
REPO_ROOT = Path(__file__).resolve().parents[2]

_digests: dict = {}
_lock = threading.Lock()


def _pair(e):
    if isinstance(e, dict):
        return [e.get("input"), e.get("output")]
    return [getattr(e, "input", None), getattr(e, "output", None)]


def examples_hash(examples) -> str:
    """SHA-256 of the examples' canonical JSON ([[input, output], ...] in order): the one
    digest of a set of examples (engine Examples or {"input", "output"} dicts)."""
    blob = json.dumps([_pair(e) for e in examples or []], ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k in sorted(value):
            _flatten(f"{prefix}.{k}" if prefix else str(k), value[k], out)
    else:
        out[prefix] = list(value) if isinstance(value, tuple) else value


def config_provenance(cfg, key) -> dict:
    """Everything the config and the run key decide (torch-free): the train task's template,
    labels and pool digest, the digests of the run's draw (training, dev, demonstrations),
    each evaluation set's digest and template, and every hyperparameter."""
    from .config import load_config
    from .tasks import resolve_tasks

    cfg = load_config(cfg)
    task, evals = resolve_tasks(cfg)
    out = {
        "model": cfg.model, "task": task.name, "task_kind": task.kind, "prompt_template": task.input_template,
        "labels": list(task.labels) if task.kind == "classification" else None,
        "answer_parser": None if task.kind == "classification" else task.answer_parser,
        "train_pool_sha256": examples_hash(training_pool(task, cfg.eval_size)),
    }
    try:
        split = draw_split(task, int(key.n), int(key.seed), cfg.eval_size)
    except Exception:  # noqa: BLE001 - a pool too small for this N is the engine's error to report
        split = None
    if split is not None:
        k = cfg.icl_demos or int(key.n)
        orders = demo_orders(split.train, ICL_ORDERINGS, k, task.name, int(key.n), int(key.seed), "orderings")
        out.update(train_examples_sha256=examples_hash(split.train), dev_examples_sha256=examples_hash(split.dev),
                   demonstrations_sha256=examples_hash([e for order in orders for e in order]))
    for et in evals:
        out[f"eval_set_sha256[{et.name}]"] = examples_hash(eval_set(et, cfg.eval_size))
        if et.name != task.name:
            out[f"eval_template[{et.name}]"] = et.input_template
    hyper = {k: v for k, v in cfg.to_dict().items()
             if k not in ("model", "task", "eval_tasks", "methods", "n", "seeds", "device", "dtype")}
    _flatten("", hyper, out)
    out["requested_device"], out["requested_dtype"] = cfg.device, cfg.dtype
    return out


def _version(dist: str):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def code_version() -> str:
    """`git describe --always --dirty` of this checkout, else the installed package's version."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return "git " + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    for dist in ("icl-ia2-lab", "lab"):
        v = _version(dist)
        if v:
            return f"{dist} {v}"
    return "unknown"


def environment() -> dict:
    """Library versions (read from the installed distributions: no import) and the code version."""
    import platform

    return {**{lib: _version(lib) for lib in LIBRARIES}, "python": platform.python_version(),
            "code_version": code_version()}


def weight_files(folder) -> list[Path]:
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def weights_sha256(folder, cache_dir=None) -> str | None:
    """SHA-256 over the model's weight files (name and bytes of each, in name order); None
    when there are none. Computed once per set of (file, size, mtime): kept in memory and,
    with `cache_dir`, in `cache_dir/weights-sha256.json` for other processes."""
    files = weight_files(folder)
    if not files:
        return None
    stamp = json.dumps([[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    with _lock:
        if stamp in _digests:
            return _digests[stamp]
    store = Path(cache_dir) / "weights-sha256.json" if cache_dir else None
    known = {}
    if store is not None and store.exists():
        try:
            known = json.loads(store.read_text())
        except (OSError, ValueError):
            known = {}
    digest = known.get(stamp)
    if digest is None:
        h = hashlib.sha256()
        root = Path(folder) if Path(folder).is_dir() else Path(folder).parent
        for p in files:
            h.update(str(p.relative_to(root)).encode() + b"\0")
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        digest = h.hexdigest()
        if store is not None:
            try:
                store.parent.mkdir(parents=True, exist_ok=True)
                tmp = store.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps({**known, stamp: digest}))
                tmp.replace(store)
            except OSError:
                pass
    with _lock:
        _digests[stamp] = digest
    return digest


def model_provenance(lm, cache_dir=None) -> dict:
    """The loaded model's identity: the path it was read from, the hub commit when it came
    from the hub, else a SHA-256 of its weight files; the dtype and device it ran with."""
    from .model_loading import resolve_model_path

    path = resolve_model_path(lm.name)
    config = getattr(lm.model, "config", None)
    revision = getattr(config, "_commit_hash", None)
    local = Path(path).exists()
    return {
        "model": lm.name, "model_path": path if local else None,
        "model_revision": None if local else revision,
        "weights_sha256": weights_sha256(path, cache_dir) if local else None,
        "dtype": str(lm.dtype).replace("torch.", ""), "device": str(lm.device),
    }


def run_provenance(cfg, key, lm, cache_dir=None) -> dict:
    """All of it, for one run: the config's part, the model's and the environment's."""
    return {**config_provenance(cfg, key), **model_provenance(lm, cache_dir), **environment()}
