"""The experiment runner: expands a config into runs (method x N x seed), runs
each one (the CLI, the tests and the Celery workers all call `execute_run`), and
aggregates the results over seeds.

Base-model ICL work for a (model, task, N, seed) is computed once and reused by
every method (see icl_work.py). Loaded models are kept per process.
"""
import hashlib
import statistics
import time
from pathlib import Path

from .adapters import attach_adapter, detach_adapter, trainable_state
from .config import METHOD_STAGES, ExperimentConfig, load_config
from .plan import RunKey, plan_runs
from .evaluation import evaluate_without_demos, metrics_from_logprobs, metrics_from_texts, similarity_to_icl
from .icl_work import get_icl_work
from .models import LoadedModel, load_model
from .progress import Reporter
from .tasks import Task, get_task
from .training import StageTrainer
from .validation import require_valid

_models: dict[tuple, LoadedModel] = {}
METRIC_KEYS = ("accuracy", "ece", "ece_equal_mass", "brier", "nll", "mean_similarity")


def get_model(cfg: ExperimentConfig) -> LoadedModel:
    key = (cfg.model, cfg.device, cfg.dtype)
    if key not in _models:
        _models[key] = load_model(cfg.model, cfg.device, cfg.dtype)
    return _models[key]


def resolve_tasks(cfg: ExperimentConfig) -> tuple[Task, list[Task]]:
    task = get_task(cfg.task)
    evals = [task]
    for spec in cfg.eval_tasks:
        t = get_task(spec)
        if t.name not in {e.name for e in evals}:
            evals.append(t)
    return task, evals


def _save_adapter(state: dict, cache_dir, key: RunKey, cfg_hash: str) -> dict:
    from safetensors.torch import save_file

    folder = Path(cache_dir) / "adapters"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cfg_hash}-{key.method}-n{key.n}-s{key.seed}.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"kind": "adapter", "path": str(path), "sha256": digest, "bytes": path.stat().st_size}


def execute_run(config, key: RunKey, on_progress=None, should_cancel=None, cache_dir=None) -> list[dict]:
    """Run one method for one N and seed; one result dict per evaluation task."""
    cfg = load_config(config)
    reporter = Reporter(on_progress, should_cancel, context={"method": key.method, "n": key.n, "seed": key.seed})
    timings: dict[str, float] = {}
    t0 = time.time()
    reporter.tick("load", 0, 1)
    lm = get_model(cfg)
    task, eval_tasks = resolve_tasks(cfg)
    timings["load"] = time.time() - t0
    reporter.tick("load", 1, 1)
    t0 = time.time()
    work, reused = get_icl_work(lm, cfg, task, eval_tasks, key.n, key.seed, reporter, cache_dir)
    timings["icl_work"] = time.time() - t0
    results = []
    if key.method == "icl":
        for et in eval_tasks:
            ev = work.evals[et.name]
            m = (metrics_from_logprobs(et, ev.inputs, ev.golds, ev.label_logprobs) if et.kind == "classification"
                 else metrics_from_texts(et, ev.inputs, ev.golds, ev.texts))
            results.append(_result(key, et, m, {}, [], {**timings, "eval": ev.seconds}, lm, work, reused, []))
        reporter.tick("done", 1, 1)
        return results
    history, artifacts = [], []
    model = lm.model
    peft_model = None
    try:
        if METHOD_STAGES[key.method]:
            peft_model = attach_adapter(lm.model, cfg.adapter, key.seed)
            trainer = StageTrainer(peft_model, cfg.training, lm.tokenizer.pad_token_id, lm.device, key.seed, reporter)
            for stage in METHOD_STAGES[key.method]:
                t0 = time.time()
                res = trainer.run(stage, work.train_items, work.dev_items)
                timings[f"train_{stage}"] = time.time() - t0
                history += res.history
            model = peft_model
            if cache_dir is not None:
                cfg_hash = hashlib.sha256(repr(cfg.to_dict()).encode()).hexdigest()[:12]
                artifacts.append(_save_adapter(trainable_state(peft_model), cache_dir, key, cfg_hash))
        model.eval()
        for et in eval_tasks:
            ev = work.evals[et.name]
            t0 = time.time()
            m = evaluate_without_demos(lm, model, et, ev.inputs, ev.golds, cfg, reporter)
            timings["eval"] = time.time() - t0
            t0 = time.time()
            sim = similarity_to_icl(lm, model, et, ev.inputs, ev.sim_answer_ids, ev.sim_acts, cfg, reporter)
            timings["similarity"] = time.time() - t0
            results.append(_result(key, et, m, sim, history, dict(timings), lm, work, reused, artifacts))
    finally:
        if peft_model is not None:
            lm.model = detach_adapter(peft_model)
    reporter.tick("done", 1, 1)
    return results


def _result(key, et, metrics, sim, history, timings, lm, work, reused, artifacts) -> dict:
    r = {"method": key.method, "n": key.n, "seed": key.seed, "eval_task": et.name, **metrics,
         "loss_history": history, "timings": timings, "n_layers": lm.n_layers,
         "icl_work_reused": reused, "icl_train_accuracy": work.train_icl_accuracy,
         "activation_bytes_per_example": work.bytes_per_example, "artifacts": artifacts}
    if sim:
        r.update(sim)
    return r


def aggregate(runs: list[dict]) -> list[dict]:
    """Mean and sample standard deviation (ddof=1, as the web app) over seeds for each
    (method, N, eval task); one seed has no spread (0)."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["method"], r["n"], r["eval_task"]), []).append(r)
    out = []
    for (method, n, et), rs in groups.items():
        row = {"method": method, "n": n, "eval_task": et, "seeds": len(rs)}
        for k in METRIC_KEYS:
            vals = [r[k] for r in rs if r.get(k) is not None]
            if vals:
                row[k] = {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0}
        sims = [r["layer_similarity"] for r in rs if r.get("layer_similarity")]
        if sims:
            row["layer_similarity"] = [statistics.fmean(v) for v in zip(*sims)]
        out.append(row)
    return out


def adapter_overlaps(runs: list[dict]) -> list[dict]:
    """LoRA subspace overlap between the adapters of every two trained methods
    sharing an (N, seed), from the adapter files the runs saved."""
    from safetensors.torch import load_file

    from .similarity import lora_subspace_overlap

    files: dict[tuple, dict[str, str]] = {}
    for r in runs:
        for a in r.get("artifacts", []):
            if a.get("kind") == "adapter":
                files.setdefault((r["n"], r["seed"]), {})[r["method"]] = a["path"]
    out = []
    for (n, seed), by_method in sorted(files.items()):
        methods = sorted(by_method)
        states = {m: load_file(by_method[m]) for m in methods}
        for i, a in enumerate(methods):
            for b in methods[i + 1:]:
                if not any("lora_B" in k for k in states[a]):
                    continue
                try:
                    ov = lora_subspace_overlap(states[a], states[b])
                except ValueError:
                    continue
                out.append({"n": n, "seed": seed, "a": a, "b": b, "mean": ov["mean"]})
    return out


def run_compare(config, on_progress=None, should_cancel=None, cache_dir=None) -> dict:
    """Every run of the grid, then the aggregate over seeds."""
    cfg = require_valid(config)
    start = time.time()
    runs = []
    keys = plan_runs(cfg)
    for i, key in enumerate(keys):
        for r in execute_run(cfg, key, on_progress, should_cancel, cache_dir):
            r["run_index"] = i
            runs.append(r)
    return {"config": cfg.to_dict(), "runs": runs, "aggregate": aggregate(runs),
            "adapter_overlap": adapter_overlaps(runs), "wall_seconds": time.time() - start}
