"""The experiment runner: expands a config into runs (method x N x seed), runs
each one (the CLI, the tests and the Celery workers all call `execute_run`), and
aggregates the results over seeds.

Base-model ICL work for a (model, task, N, seed) is computed once and reused by
every method (see icl_work.py), and so is every trained stage (stage_cache.py:
ia2-sft starts from ia2's IA2 stage). Loaded models are kept per process (LRU).
Trained LoRA adapters are evaluated folded into the weights (adapters.fused_for_eval).
"""
import hashlib
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from .adapters import attach_adapter, detach_adapter, fused_for_eval, load_trainable_state, trainable_state
from .errors import EngineError
from .config import METHOD_STAGES, ExperimentConfig, load_config
from .plan import RunKey, plan_runs
from .evaluation import evaluate_without_demos, metrics_from_logprobs, metrics_from_texts, similarity_to_icl
from .icl_work import IclWork, get_icl_work, training_data_key
from .lru import LRU
from .metric_table import RUN_METRICS
from .model_loading import LoadedModel, load_model
from .progress import Reporter
from .provenance import run_provenance
from .stage_cache import StageEntry, get_stage, stage_key
from .stats import spread
from .tasks import Task, resolve_tasks
from .training import StageTrainer
from .validation import require_valid

MAX_LOADED_MODELS = 2   # a worker keeps at most this many models in memory (least recently used go)
_models: LRU = LRU(MAX_LOADED_MODELS)


def get_model(cfg: ExperimentConfig) -> LoadedModel:
    key = (cfg.model, cfg.device, cfg.dtype)
    lm = _models.get(key)
    if lm is None:
        lm = load_model(cfg.model, cfg.device, cfg.dtype)
        _models.put(key, lm)
    return lm


def _save_adapter(peft_model, cache_dir, key: RunKey, cfg_hash: str) -> dict:
    """The adapter in peft's own format (adapter_config.json + adapter_model.safetensors),
    loadable with PeftModel.from_pretrained(base_model, path)."""
    folder = Path(cache_dir) / "adapters" / f"{cfg_hash}-{key.method}-n{key.n}-s{key.seed}"
    peft_model.save_pretrained(str(folder))
    weights = folder / "adapter_model.safetensors"
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    return {"kind": "adapter", "format": "peft", "path": str(folder), "weights": str(weights),
            "sha256": digest, "bytes": size}


@dataclass
class RunRecord:
    """What every result dict of one run shares, whatever the evaluation task."""

    key: RunKey
    lm: LoadedModel
    work: IclWork
    reused: bool
    timings: dict = field(default_factory=dict)
    history: list = field(default_factory=list)
    artifacts: list = field(default_factory=list)
    stages: list = field(default_factory=list)
    provenance: dict = field(default_factory=dict)

    def result(self, et: Task, metrics: dict, sim: dict | None = None) -> dict:
        r = {"method": self.key.method, "n": self.key.n, "seed": self.key.seed, "eval_task": et.name, **metrics,
             "loss_history": self.history, "timings": dict(self.timings), "n_layers": self.lm.n_layers,
             "icl_work_reused": self.reused, "icl_train_accuracy": self.work.train_icl_accuracy,
             "activation_bytes_per_example": self.work.bytes_per_example, "artifacts": self.artifacts,
             "training_stages": self.stages, "provenance": self.provenance}
        if sim:
            r.update(sim)
        return r


def train_stages(peft_model, lm: LoadedModel, cfg: ExperimentConfig, task: Task, key: RunKey, work: IclWork,
                 reporter: Reporter, record: RunRecord, cache_dir) -> None:
    """Bring the adapter through the method's stages; each stage prefix (e.g. the IA2
    stage of ia2-sft) is trained once and reused by every method that starts with it."""
    trainer = StageTrainer(peft_model, cfg.training, lm.tokenizer.pad_token_id, lm.device, key.seed, reporter,
                           dev_batch_size=cfg.eval_batch_size)
    data = training_data_key(lm, cfg, task, key.n, key.seed)
    stages = METHOD_STAGES[key.method]
    for i, stage in enumerate(stages):
        t0 = time.time()

        def train() -> StageEntry:
            res = trainer.run(stage, work.train_items, work.dev_items)
            return StageEntry(trainable_state(peft_model), res)

        skey = stage_key(data, vars(cfg.adapter), vars(cfg.training), stages[:i + 1], str(lm.device), str(lm.dtype))
        entry, reused = get_stage(skey, train, cache_dir)
        if reused:
            load_trainable_state(peft_model, entry.state)
            reporter.tick(stage, 1, 1, message=f"{stage}: reused the stage trained earlier for this seed")
        record.timings[f"train_{stage}"] = time.time() - t0
        record.history += entry.result.history
        record.stages.append({**entry.result.summary(), "reused": reused})


def execute_run(config, key: RunKey, on_progress=None, should_cancel=None, cache_dir=None) -> list[dict]:
    """Run one method for one N and seed; one result dict per evaluation task."""
    cfg = load_config(config)
    reporter = Reporter(on_progress, should_cancel, context={"method": key.method, "n": key.n, "seed": key.seed})
    t0 = time.time()
    reporter.tick("load", 0, 1)
    lm = get_model(cfg)
    task, eval_tasks = resolve_tasks(cfg)
    load_seconds = time.time() - t0
    reporter.tick("load", 1, 1)
    t0 = time.time()
    work, reused = get_icl_work(lm, cfg, task, eval_tasks, key.n, key.seed, reporter, cache_dir)
    record = RunRecord(key, lm, work, reused, timings={"load": load_seconds, "icl_work": time.time() - t0},
                       provenance=run_provenance(cfg, key, lm, cache_dir))
    results = []
    if key.method == "icl":
        for et in eval_tasks:
            ev = work.evals[et.name]
            m = (metrics_from_logprobs(et, ev.inputs, ev.golds, ev.label_logprobs) if et.kind == "classification"
                 else metrics_from_texts(et, ev.inputs, ev.golds, ev.texts))
            record.timings["eval"] = ev.seconds
            results.append(record.result(et, m))
        reporter.tick("done", 1, 1)
        return results
    peft_model = None
    try:
        model = lm.model
        if METHOD_STAGES[key.method]:
            peft_model = attach_adapter(lm.model, cfg.adapter, key.seed)
            train_stages(peft_model, lm, cfg, task, key, work, reporter, record, cache_dir)
            model = peft_model
            if cache_dir is not None:
                cfg_hash = hashlib.sha256(repr(cfg.to_dict()).encode()).hexdigest()[:12]
                record.artifacts.append(_save_adapter(peft_model, cache_dir, key, cfg_hash))
        model.eval()
        with fused_for_eval(model) as fused:
            for et in eval_tasks:
                ev = work.evals[et.name]
                t0 = time.time()
                m = evaluate_without_demos(lm, fused, et, ev.inputs, ev.golds, cfg, reporter)
                record.timings["eval"] = time.time() - t0
                t0 = time.time()
                sim = similarity_to_icl(lm, fused, et, ev.inputs, ev.sim_answer_ids, ev.sim_acts, cfg, reporter)
                record.timings["similarity"] = time.time() - t0
                results.append(record.result(et, m, sim))
    finally:
        if peft_model is not None:
            lm.model = detach_adapter(peft_model)
    reporter.tick("done", 1, 1)
    return results


def aggregate(runs: list[dict]) -> list[dict]:
    """Mean, sample standard deviation and 95% interval over seeds for each (method, N, eval
    task): `stats.spread`, the one convention of the CLI, the web app and the exports, each
    interval clipped to its metric's range (`metric_table`); one seed has no spread (std 0,
    no interval)."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["method"], r["n"], r["eval_task"]), []).append(r)
    out = []
    for (method, n, et), rs in groups.items():
        row = {"method": method, "n": n, "eval_task": et, "seeds": len(rs)}
        for k in RUN_METRICS:
            s = spread([r.get(k) for r in rs], metric=k)
            if s is not None:
                row[k] = s.summary()
        sims = [r["layer_similarity"] for r in rs if r.get("layer_similarity")]
        if sims:
            row["layer_similarity"] = [statistics.fmean(v) for v in zip(*sims)]
        out.append(row)
    return out


def adapter_overlaps(runs: list[dict]) -> list[dict]:
    """LoRA subspace overlap between the adapters of every two trained methods
    sharing an (N, seed), from the adapter files the runs saved."""
    from .adapters import load_saved_adapter
    from .similarity import lora_subspace_overlap

    files: dict[tuple, dict[str, str]] = {}
    for r in runs:
        for a in r.get("artifacts", []):
            if a.get("kind") == "adapter":
                files.setdefault((r["n"], r["seed"]), {})[r["method"]] = a.get("weights", a["path"])
    out = []
    for (n, seed), by_method in sorted(files.items()):
        methods = sorted(by_method)
        states = {m: load_saved_adapter(by_method[m]) for m in methods}
        for i, a in enumerate(methods):
            for b in methods[i + 1:]:
                if not any("lora_B" in k for k in states[a]):
                    continue
                try:
                    ov = lora_subspace_overlap(states[a], states[b])
                except ValueError:
                    continue
                out.append({"n": n, "seed": seed, "a": a, "b": b, "mean": ov["mean"], "random": ov["random"]})
    return out


def run_compare(config, on_progress=None, should_cancel=None, cache_dir=None) -> dict:
    """Every run of the grid, then the aggregate over seeds."""
    cfg = load_config(config)
    try:   # the tokenizer is loaded once: validation reads the loaded model's
        lm = get_model(cfg)
        loaded = (lm.tokenizer, lm.model.config)
    except EngineError:
        loaded = None   # require_valid names the problem
    cfg = require_valid(cfg, loaded=loaded)
    start = time.time()
    runs = []
    keys = plan_runs(cfg)
    for i, key in enumerate(keys):
        for r in execute_run(cfg, key, on_progress, should_cancel, cache_dir):
            r["run_index"] = i
            runs.append(r)
    return {"config": cfg.to_dict(), "runs": runs, "aggregate": aggregate(runs),
            "adapter_overlap": adapter_overlaps(runs), "wall_seconds": time.time() - start}
