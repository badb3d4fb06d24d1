"""Work computed once and shared: the ICL work of a (model, task, N, seed) and the trained
stages are the same whichever method or worker asks, so each is kept in a small in-process
LRU and, with a cache directory, in one file per key. The file is written atomically
(a temporary file, then a rename) under a file lock, so two workers that ask at once
compute it once: the second waits and reads what the first wrote."""
import fcntl
import os
from pathlib import Path
from typing import Any, Callable

import torch

from .lru import LRU


def _torch_save(value, path: Path) -> None:
    torch.save(value, path)


def _torch_load(path: Path):
    return torch.load(path, weights_only=False)


def get_or_compute(memory: LRU, key: str, compute: Callable[[], Any], cache_dir=None, folder: str = "",
                   save: Callable[[Any, Path], None] = _torch_save,
                   load: Callable[[Path], Any] = _torch_load) -> tuple[Any, bool]:
    """(value, reused): from memory, from `cache_dir/folder/key.pt`, or `compute()` now and stored."""
    hit = memory.get(key)
    if hit is not None:
        return hit, True
    if cache_dir is None:
        value = compute()
        memory.put(key, value)
        return value, False
    directory = Path(cache_dir) / folder
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key}.pt"
    with open(directory / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            reused = path.exists()
            if reused:
                value = load(path)
            else:
                value = compute()
                tmp = path.with_suffix(f".tmp{os.getpid()}")
                save(value, tmp)
                os.replace(tmp, path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    memory.put(key, value)
    return value, reused
