"""Held-out k-shot ICL curve on the embedded model's world, measured with the
engine's own scoring: tasks whose label tuple the model never saw in training,
k demonstrations per query, accuracy and ECE per k (mean over tasks)."""
import numpy as np

from .embedded.corpus import CANONICAL_TEMPLATE
from .embedded.heldout import heldout_prompts, heldout_tasks
from .evaluation import metrics_from_logprobs
from .model_loading import load_model
from .scoring import score_label_set
from .tasks import Task, Example

KS = (0, 1, 2, 4, 8, 16)


def heldout_icl_curve(model: str = "embedded", n_tasks: int = 20, n_queries: int = 100, ks=KS, seed: int = 7,
                      lm=None) -> dict:
    lm = lm or load_model(model)
    rng = np.random.default_rng(seed)
    per_k = {k: {"accuracy": [], "ece": [], "chance": []} for k in ks}
    for cats, labels, vocab in heldout_tasks(n_tasks, seed):
        task = Task(name="+".join(cats), kind="classification", input_template=CANONICAL_TEMPLATE, labels=labels,
                    examples=[Example("-", labels[0])])
        for k in ks:
            prompts, inputs, gold_idx = heldout_prompts(rng, cats, labels, vocab, k, n_queries)
            lp = score_label_set(lm.model, lm.tokenizer, prompts, labels, lm.device, batch_size=50)
            m = metrics_from_logprobs(task, inputs, [labels[g] for g in gold_idx], lp)
            per_k[k]["accuracy"].append(m["accuracy"])
            per_k[k]["ece"].append(m["ece"])
            per_k[k]["chance"].append(1 / len(labels))
    return {str(k): {name: float(np.mean(v)) for name, v in d.items()} for k, d in per_k.items()} | {
        "tasks": n_tasks, "queries_per_task": n_queries}
