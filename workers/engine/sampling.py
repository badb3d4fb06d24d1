"""Seeded draws of the data each run sees: N training examples, a dev split of
N/2, a fixed evaluation set, and demonstration orders.

The evaluation set is the same for every seed and N (so methods and seeds are
compared on the same queries); training and dev examples never overlap it.
"""
import hashlib
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .tasks import Example, Task


# Demonstration orderings per (task, N, seed) shared by the evaluation queries and the dev
# examples (icl_work.py): query i sees the N training examples in ordering i % ICL_ORDERINGS.
ICL_ORDERINGS = 4


def stable_seed(*parts) -> int:
    """A seed derived from strings/ints, identical across processes and machines."""
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little")


def rng_for(*parts) -> np.random.Generator:
    return np.random.default_rng(stable_seed(*parts))


def eval_set(task: Task, size: int) -> list[Example]:
    """The task's fixed evaluation examples (its eval_examples, else the tail of a fixed shuffle of its pool)."""
    if task.eval_examples:
        return task.eval_examples[:size]
    order = rng_for("eval", task.name).permutation(len(task.examples))
    return [task.examples[i] for i in order[len(order) - min(size, len(order) // 2):]]


def training_pool(task: Task, eval_size: int) -> list[Example]:
    """Examples that may be used for training, dev and demonstrations."""
    if task.eval_examples:
        return list(task.examples)
    held = set(map(id, eval_set(task, eval_size)))
    return [e for e in task.examples if id(e) not in held]


def dev_size(n: int) -> int:
    return max(1, n // 2)


@dataclass
class Split:
    """The examples one (task, N, seed) run trains on and early-stops on."""

    train: list[Example]
    dev: list[Example]


def draw_split(task: Task, n: int, seed: int, eval_size: int) -> Split:
    pool = training_pool(task, eval_size)
    need = n + dev_size(n)
    if need > len(pool):
        raise ConfigError("n", f"task '{task.name}': N={n} needs {need} examples (N for training plus N/2 for "
                               f"the dev split) but its pool has {len(pool)} outside the evaluation set; "
                               "lower N or add examples")
    order = rng_for("split", task.name, n, seed).permutation(len(pool))
    chosen = [pool[i] for i in order[:need]]
    return Split(train=chosen[:n], dev=chosen[n:])


def demo_orders(demos: list[Example], count: int, k: int, *seed_parts) -> list[list[Example]]:
    """`count` demonstration lists of k examples each, drawn (without replacement
    within a list) and shuffled by a seeded generator."""
    rng = rng_for("demos", *seed_parts)
    k = min(k, len(demos))
    return [[demos[i] for i in rng.permutation(len(demos))[:k]] for _ in range(count)]
