"""The base model's in-context work for one (model, task, N, seed), computed once
and reused by every method: ICL answers and activations for each training and
dev example (the IA2 targets) and ICL predictions and activations on each
evaluation task's queries (the ICL baseline and the similarity reference).

Stored on disk (torch.save, CPU tensors) under the cache directory with a file
lock, so concurrent workers compute it once; kept in memory within a process.
"""
import hashlib
import json
from dataclasses import dataclass

import torch

from .answers import answer_pass
from .cached import get_or_compute
from .lru import LRU
from .losses import TrainItem
from .sampling import ICL_ORDERINGS, demo_orders, draw_split, eval_set
from .sequences import encode_answers, encode_prompts
from .tasks import Task, icl_prompt

CACHE_VERSION = 4
# Demonstration orderings per seed shared by the evaluation queries and the dev
# examples: query (or dev example) i sees the N training examples in ordering
# i % ICL_ORDERINGS (sampling.py), and the demonstrations of each ordering run once (prefix.py).
_memory: LRU = LRU(8)   # the most recent (model, task, N, seed) works of this process


@dataclass
class IclEval:
    task_name: str
    inputs: list[str]
    golds: list[str]
    label_logprobs: torch.Tensor | None   # [n, labels] (classification)
    texts: list[str]                      # the ICL answers as text
    sim_answer_ids: list[list[int]]       # ICL answer tokens of the similarity queries
    sim_acts: list[torch.Tensor]          # [layers, m, hidden] per similarity query
    seconds: float = 0.0


@dataclass
class IclWork:
    train_items: list[TrainItem]
    dev_items: list[TrainItem]
    evals: dict[str, IclEval]
    train_icl_accuracy: float
    seconds: float
    bytes_per_example: float


def cache_key(model: str, task: Task, eval_tasks: list[Task], n: int, seed: int, icl_demos, eval_size: int,
              similarity_size: int, top_k: int, max_new_tokens: int) -> str:
    blob = json.dumps({"v": CACHE_VERSION, "model": model, "task": task.to_dict(),
                       "evals": [t.to_dict() for t in eval_tasks], "n": n, "seed": seed, "k": icl_demos,
                       "eval_size": eval_size, "sim": similarity_size, "top_k": top_k,
                       "gen": max_new_tokens}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def compute_icl_work(lm, cfg, task: Task, eval_tasks: list[Task], n: int, seed: int, reporter) -> IclWork:
    import time

    start = time.time()
    split = draw_split(task, n, seed, cfg.eval_size)
    k = cfg.icl_demos or n
    labels = task.labels if task.kind == "classification" else None
    top_k = cfg.training.soft_top_k
    # training example i: the other N-1 examples as demonstrations, in a seeded order
    train_prompts = []
    for i, ex in enumerate(split.train):
        others = [e for j, e in enumerate(split.train) if j != i]
        demos = demo_orders(others, 1, min(k, len(others)), task.name, n, seed, "train", i)[0]
        train_prompts.append(icl_prompt(task, demos, task, ex.input))
    orders = demo_orders(split.train, ICL_ORDERINGS, k, task.name, n, seed, "orderings")
    dev_prompts = [icl_prompt(task, orders[j % ICL_ORDERINGS], task, ex.input) for j, ex in enumerate(split.dev)]
    groups = [None] * len(train_prompts) + [j % ICL_ORDERINGS for j in range(len(dev_prompts))]
    ans = answer_pass(lm, train_prompts + dev_prompts, labels, want_acts=True, top_k=top_k,
                      max_new_tokens=cfg.max_new_tokens, batch_size=cfg.eval_batch_size,
                      reporter=reporter, stage="icl-targets", groups=groups)
    tok = lm.tokenizer
    examples = split.train + split.dev
    query_ids = encode_prompts(tok, [task.query(e.input) for e in examples])
    gold_ids = encode_answers(tok, [e.output for e in examples])
    items = [TrainItem(query_ids[i], gold_ids[i], ans.answer_ids[i], ans.acts[i], ans.soft_ids[i],
                       ans.soft_probs[i]) for i in range(len(examples))]
    correct = [t.strip() == e.output.strip() for t, e in zip(ans.texts[:n], split.train)]
    evals = {}
    for et in eval_tasks:
        t0 = time.time()
        queries = eval_set(et, cfg.eval_size)
        prompts = [icl_prompt(task, orders[i % ICL_ORDERINGS], et, q.input) for i, q in enumerate(queries)]
        groups = [i % ICL_ORDERINGS for i in range(len(prompts))]
        sim = cfg.similarity_size
        e_labels = et.labels if et.kind == "classification" else None
        head = answer_pass(lm, prompts[:sim], e_labels, want_acts=True, top_k=1,
                           max_new_tokens=cfg.max_new_tokens, batch_size=cfg.eval_batch_size,
                           reporter=reporter, stage="icl-eval", groups=groups[:sim]) if sim else None
        tail = answer_pass(lm, prompts[sim:], e_labels, want_acts=False, max_new_tokens=cfg.max_new_tokens,
                           batch_size=cfg.eval_batch_size, reporter=reporter, stage="icl-eval",
                           groups=groups[sim:])
        parts = [p for p in (head, tail) if p is not None]
        logprobs = None
        if e_labels is not None:
            logprobs = torch.cat([p.label_logprobs for p in parts if p.label_logprobs is not None])
        evals[et.name] = IclEval(et.name, [q.input for q in queries], [q.output for q in queries], logprobs,
                                 [t for p in parts for t in p.texts],
                                 head.answer_ids if head else [], head.acts if head else [],
                                 seconds=time.time() - t0)
    acts = [it.icl_acts for it in items]
    per_example = sum(a.numel() * a.element_size() for a in acts) / max(len(acts), 1)
    return IclWork(items[:n], items[n:], evals, sum(correct) / max(len(correct), 1), time.time() - start,
                   per_example)


def get_icl_work(lm, cfg, task, eval_tasks, n, seed, reporter, cache_dir=None) -> tuple[IclWork, bool]:
    """(work, reused): from memory, from the disk cache, or computed now and stored."""
    key = cache_key(lm.name, task, eval_tasks, n, seed, cfg.icl_demos, cfg.eval_size, cfg.similarity_size,
                    cfg.training.soft_top_k, cfg.max_new_tokens)
    return get_or_compute(_memory, key, lambda: compute_icl_work(lm, cfg, task, eval_tasks, n, seed, reporter),
                          cache_dir, "icl")


def training_data_key(lm, cfg, task: Task, n: int, seed: int) -> str:
    """What the training and dev items depend on (the ICL-work key without evaluation tasks)."""
    return cache_key(lm.name, task, [], n, seed, cfg.icl_demos, cfg.eval_size, 0, cfg.training.soft_top_k,
                     cfg.max_new_tokens)


def clear_memory_cache() -> None:
    _memory.clear()
