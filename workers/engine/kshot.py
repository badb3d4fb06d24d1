"""k-shot in-context learning on a task's evaluation set, with no training: each
query gets its own k demonstrations drawn from the pool (seeded), the label set
is scored with the engine's scoring, and accuracy/ECE come from the engine's
metrics. Used by the tests and the SmolLM2 curve benchmark.

Counterbalancing: a list of tasks that differ only in which label word names
which class (wordnet-remapped-a and -b) is scored task by task and averaged, so
a model's preference for one label word cancels out.
"""
import statistics

from .evaluation import metrics_from_logprobs
from .sampling import eval_set, rng_for, training_pool
from .scoring import score_label_set
from .tasks import Task, icl_prompt


def kshot_prompts(task: Task, k: int, eval_size: int, seed: int = 0, eval_task: Task | None = None):
    """(prompts, inputs, golds): each evaluation query of `eval_task` (default: the task)
    with k demonstrations from the task's pool."""
    eval_task = eval_task or task
    pool = training_pool(task, eval_size)
    queries = eval_set(eval_task, eval_size)
    # seeded by the pool's texts, not the task's name: tasks that differ only in their label
    # assignment (counterbalanced pairs) get the same demonstrations, relabelled
    rng = rng_for("kshot", k, seed, len(pool), *(e.input for e in pool[:8]))
    prompts = []
    for q in queries:
        demos = [pool[i] for i in rng.permutation(len(pool))[:k]] if k else []
        prompts.append(icl_prompt(task, demos, eval_task, q.input))
    return prompts, [q.input for q in queries], [q.output for q in queries]


def kshot_metrics(lm, task: Task, k: int, eval_size: int = 200, seed: int = 0, batch_size: int = 16,
                  eval_task: Task | None = None) -> dict:
    eval_task = eval_task or task
    prompts, inputs, golds = kshot_prompts(task, k, eval_size, seed, eval_task)
    lp = score_label_set(lm.model, lm.tokenizer, prompts, eval_task.labels, lm.device, batch_size=batch_size)
    m = metrics_from_logprobs(eval_task, inputs, golds, lp)
    predicted = [p["predicted"] for p in m["predictions"]]
    return {"accuracy": m["accuracy"], "ece": m["ece"], "chance": 1 / len(eval_task.labels),
            "majority_share": max(predicted.count(label) for label in eval_task.labels) / len(predicted)}


def counterbalanced(lm, tasks: list[Task], k: int, eval_size: int = 200, seed: int = 0, batch_size: int = 16) -> dict:
    """kshot_metrics averaged over tasks that differ only in their label assignment."""
    per_task = [kshot_metrics(lm, t, k, eval_size, seed, batch_size) for t in tasks]
    out = {key: statistics.fmean(m[key] for m in per_task) for key in ("accuracy", "ece", "chance")}
    out["per_task"] = {t.name: m for t, m in zip(tasks, per_task)}
    return out
