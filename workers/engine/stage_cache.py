"""Trained stages, computed once and reused: the adapter weights after the stages
(ia2), (ia2, sft), (sft), ... of one (model, task, N, seed, adapter, training
settings) are the same whichever method asked for them, so `ia2-sft` starts from
the IA2 stage that `ia2` trained (and `sft-ia2` from `sft`'s SFT stage).

A stage's key covers everything its weights depend on: the training data (the
ICL-work key without the evaluation tasks), the adapter and training settings,
the stages before it, and the device and dtype. Entries are stored like the ICL
work (torch.save under the cache directory, with a file lock so concurrent
workers train a stage once) and kept in a small in-process LRU.
"""
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch

from .cached import get_or_compute
from .lru import LRU
from .training import StageResult

CACHE_VERSION = 2  # 2: StageResult reports every trial (trials, best_step)
_memory: LRU = LRU(16)


@dataclass
class StageEntry:
    state: dict[str, torch.Tensor]   # trainable adapter weights after the stage (CPU)
    result: StageResult


def stage_key(data_key: str, adapter: dict, training: dict, stages: list[str], device: str, dtype: str) -> str:
    blob = json.dumps({"v": CACHE_VERSION, "data": data_key, "adapter": adapter, "training": training,
                       "stages": list(stages), "device": device, "dtype": dtype}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def _load(path: Path) -> StageEntry:
    raw = torch.load(path, weights_only=False)
    return StageEntry(raw["state"], StageResult(**raw["result"]))


def _save(entry: StageEntry, path: Path) -> None:
    torch.save({"state": entry.state, "result": asdict(entry.result)}, path)


def get_stage(key: str, train: Callable[[], StageEntry], cache_dir=None) -> tuple[StageEntry, bool]:
    """(entry, reused): from memory, from disk, or trained now by `train()` and stored."""
    return get_or_compute(_memory, key, train, cache_dir, "stages", save=_save, load=_load)


def clear_memory_cache() -> None:
    _memory.clear()
