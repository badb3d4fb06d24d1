"""Experiment configuration: every key, its default, and its checks.

Keys (YAML or JSON for the CLI, a dict for the web app):
  model            "embedded" (the shipped model), a Hugging Face id or a local directory
  task             built-in task name or an inline task object (see tasks.py)
  eval_tasks       extra evaluation tasks (names or objects); the train task is always evaluated
  methods          from base, icl, sft, ia2, ia2-sft, ia2+sft, soft-sft, sft-ia2
  n                training-set sizes N (int or list)
  seeds            number of seeds (int, giving 0..k-1) or an explicit list
  icl_demos        demonstrations per ICL prompt (null = all N training examples)
  eval_size        evaluation queries per evaluation task (200)
  similarity_size  evaluation queries used for activation similarity (50)
  adapter          {type: lora|ia3, r: 8, alpha: 8, dropout: 0, target_modules: [q_proj, k_proj, o_proj]}
  training         {lr: [1e-4, 3e-4, 1e-3] ([1e-3, 1e-2, 3e-2] for the embedded model), max_epochs: 50, patience: 5, batch_size: 4, micro_batch_size: 0,
                    joint_weight: 0.5, soft_top_k: 32}
  device           auto | cpu | cuda | cuda:N
  dtype            auto (bf16 on GPU, fp32 on CPU) | bf16 | fp16 | fp32
  eval_batch_size  prompts per forward pass when evaluating (32)
  max_new_tokens   generation budget for generation tasks (64)
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .training_settings import AdapterSettings, TrainingSettings

METHODS = ("base", "icl", "sft", "ia2", "ia2-sft", "ia2+sft", "soft-sft", "sft-ia2")
METHOD_STAGES = {
    "base": [], "icl": [], "sft": ["sft"], "ia2": ["ia2"], "ia2-sft": ["ia2", "sft"],
    "ia2+sft": ["ia2+sft"], "soft-sft": ["soft-sft"], "sft-ia2": ["sft", "ia2"],
}
METHOD_TITLES = {"base": "Base (0-shot)", "icl": "ICL", "sft": "SFT", "ia2": "IA2", "ia2-sft": "IA2->SFT",
                 "ia2+sft": "IA2+SFT", "soft-sft": "Soft-label SFT", "sft-ia2": "SFT->IA2"}
# Learning rates searched on the dev split when `training.lr` is not given: the
# paper's grid for real models; higher rates for the small embedded model.
PAPER_LR_GRID = [1e-4, 3e-4, 1e-3]
EMBEDDED_LR_GRID = [1e-3, 1e-2, 3e-2]
KNOWN_KEYS = {"model", "task", "eval_tasks", "methods", "n", "seeds", "icl_demos", "eval_size",
              "similarity_size", "adapter", "training", "device", "dtype", "eval_batch_size", "max_new_tokens"}


@dataclass
class ExperimentConfig:
    task: object
    model: str = "embedded"
    eval_tasks: list = field(default_factory=list)
    methods: list[str] = field(default_factory=lambda: ["icl", "sft", "ia2", "ia2-sft"])
    n: list[int] = field(default_factory=lambda: [4])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    icl_demos: int | None = None
    eval_size: int = 200
    similarity_size: int = 50
    adapter: AdapterSettings = field(default_factory=AdapterSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    device: str = "auto"
    dtype: str = "auto"
    eval_batch_size: int = 32
    max_new_tokens: int = 64

    def to_dict(self) -> dict:
        return {"model": self.model, "task": self.task, "eval_tasks": list(self.eval_tasks),
                "methods": list(self.methods), "n": list(self.n), "seeds": list(self.seeds),
                "icl_demos": self.icl_demos, "eval_size": self.eval_size, "similarity_size": self.similarity_size,
                "adapter": dict(vars(self.adapter)), "training": dict(vars(self.training)),
                "device": self.device, "dtype": self.dtype, "eval_batch_size": self.eval_batch_size,
                "max_new_tokens": self.max_new_tokens}


def _int_list(value, fld: str, minimum: int) -> list[int]:
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values):
        raise ConfigError(fld, f"expected an integer >= {minimum} or a list of them, got {value!r}")
    return values


def _positive_int(d: dict, key: str, default: int, minimum: int = 1) -> int:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(key, f"expected an integer >= {minimum}, got {value!r}")
    return value


def _training(d: dict) -> TrainingSettings:
    training = dict(d.get("training") or {})
    if "lr" not in training:
        training["lr"] = list(EMBEDDED_LR_GRID if str(d.get("model") or "embedded") == "embedded" else PAPER_LR_GRID)
    return TrainingSettings.from_dict(training)


def default(key: str):
    """The ExperimentConfig default of `key`: parse_config, the web form and the README read it
    from here, so each default is written once (in the dataclass above)."""
    f = ExperimentConfig.__dataclass_fields__[key]
    return f.default_factory() if callable(f.default_factory) else f.default


def parse_config(d: dict) -> ExperimentConfig:
    """Check a config dict and fill in defaults; raises ConfigError naming the bad key."""
    if not isinstance(d, dict):
        raise ConfigError("config", "expected a mapping of keys to values")
    unknown = set(d) - KNOWN_KEYS
    if unknown:
        raise ConfigError(sorted(unknown)[0], f"unknown key; known keys: {', '.join(sorted(KNOWN_KEYS))}")
    if "task" not in d or d["task"] in (None, ""):
        raise ConfigError("task", "give a train task: a built-in name (see `python -m workers.engine tasks`) "
                                  "or an inline task object")
    methods = d.get("methods", default("methods"))
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ConfigError("methods", f"unknown method(s) {bad}; choose from {', '.join(METHODS)}")
    seeds = d.get("seeds", len(default("seeds")))
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError("seeds", "give at least one seed (a count, or a list of seeds)")
        seeds = list(range(seeds))
    else:
        seeds = _int_list(seeds, "seeds", 0)
    icl_demos = d.get("icl_demos")
    if icl_demos is not None and (isinstance(icl_demos, bool) or not isinstance(icl_demos, int) or icl_demos < 1):
        raise ConfigError("icl_demos", "expected a positive integer, or null for all N training examples")
    eval_tasks = d.get("eval_tasks") or []
    if not isinstance(eval_tasks, list):
        eval_tasks = [eval_tasks]
    cfg = ExperimentConfig(
        task=d["task"], model=str(d.get("model") or "embedded"), eval_tasks=eval_tasks,
        methods=list(dict.fromkeys(methods)), n=_int_list(d.get("n", default("n")), "n", 1), seeds=seeds,
        icl_demos=icl_demos, eval_size=_positive_int(d, "eval_size", default("eval_size")),
        similarity_size=_positive_int(d, "similarity_size", default("similarity_size"), minimum=0),
        adapter=AdapterSettings.from_dict(d.get("adapter")), training=_training(d),
        device=str(d.get("device") or "auto"), dtype=str(d.get("dtype") or "auto"),
        eval_batch_size=_positive_int(d, "eval_batch_size", default("eval_batch_size")),
        max_new_tokens=_positive_int(d, "max_new_tokens", default("max_new_tokens")))
    if cfg.similarity_size > cfg.eval_size:
        raise ConfigError("similarity_size", f"must not exceed eval_size ({cfg.eval_size})")
    return cfg


def load_config(source) -> ExperimentConfig:
    """From an ExperimentConfig, a dict, or a path to a YAML/JSON file."""
    if isinstance(source, ExperimentConfig):
        return source
    if isinstance(source, dict):
        return parse_config(source)
    path = Path(source)
    if not path.exists():
        raise ConfigError("config", f"file '{path}' does not exist")
    text = path.read_text()
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("config", f"'{path}' is not valid JSON ({exc})") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError("config", f"'{path}' is not valid YAML ({exc})") from None
    return parse_config(data or {})
