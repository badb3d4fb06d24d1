"""Held-out in-context learning tasks for the embedded model, and a quick check
used while training.

A held-out task has 2 or 3 classes; each class is 4 keywords drawn from one
category, and the label tuple is made only of held-out label words (an
assignment never seen in training). Tasks are counterbalanced over label orders. Queries and demonstrations are sentences in
the model's canonical format. The engine's heldout_eval measures the shipped
weights with its own scoring on these tasks.
"""
import numpy as np
import torch

from ..scoring import score_label_set
from .corpus import CANONICAL_TEMPLATE, sample_input
from .world import CATEGORIES, FRAMES

WORDS_PER_CLASS = 4
HELD_OUT_LABEL_TUPLES = [
    ["yes", "no"], ["A", "B"], ["positive", "negative"], ["A", "B", "C"], ["good", "bad"], ["C", "D"],
    ["positive", "negative", "neutral"], ["D", "A"], ["yes", "no", "A"], ["bad", "good"], ["B", "C", "D"],
]


def heldout_tasks(n_tasks: int, seed: int) -> list[tuple[list[str], list[str], dict[str, list[str]]]]:
    """(categories, labels, keywords per category) for each held-out task.

    Counterbalanced: every drawn class set appears with each rotation of its label
    tuple (2 tasks for a 2-way set, 3 for a 3-way set), so a fixed preference for
    one label word cannot move the average away from chance."""
    rng = np.random.default_rng(seed)
    tasks = []
    i = 0
    while len(tasks) < n_tasks:
        labels = HELD_OUT_LABEL_TUPLES[i % len(HELD_OUT_LABEL_TUPLES)]
        i += 1
        if len(tasks) + len(labels) > n_tasks:
            labels = HELD_OUT_LABEL_TUPLES[0]
        cats = [str(c) for c in rng.choice(list(CATEGORIES), size=len(labels), replace=False)]
        vocab = {c: [str(w) for w in rng.choice(CATEGORIES[c], size=WORDS_PER_CLASS, replace=False)] for c in cats}
        for shift in range(len(labels)):
            tasks.append((cats, labels[shift:] + labels[:shift], vocab))
    return tasks[:n_tasks]


def heldout_prompts(rng, cats, labels, vocab, k: int, n_queries: int, template: str = CANONICAL_TEMPLATE):
    """n_queries ICL prompts with k random demonstrations each; (prompts, inputs, gold indices)."""
    prompts, inputs, golds = [], [], []
    for _ in range(n_queries):
        demos = []
        for _ in range(k):
            c = int(rng.integers(len(cats)))
            demos.append(template.replace("{x}", sample_input(rng, [cats[c]], FRAMES, vocab)) + labels[c])
        g = int(rng.integers(len(cats)))
        x = sample_input(rng, [cats[g]], FRAMES, vocab)
        prompts.append("\n\n".join(demos + [template.replace("{x}", x)]))
        inputs.append(x)
        golds.append(g)
    return prompts, inputs, golds


@torch.no_grad()
def heldout_curve(model, tok, n_tasks=20, n_queries=100, ks=(0, 1, 2, 4, 8, 16), seed=1, batch=64) -> dict:
    """Mean held-out accuracy (and chance) for each k, over n_tasks x n_queries."""
    rng = np.random.default_rng(seed + 1000)
    results = {}
    tasks = heldout_tasks(n_tasks, seed)
    device = next(model.parameters()).device
    for k in ks:
        correct, chance = [], []
        for cats, labels, vocab in tasks:
            prompts, _, golds = heldout_prompts(rng, cats, labels, vocab, k, n_queries)
            scores = score_label_set(model, tok, prompts, labels, device, batch_size=batch)
            correct += (scores.argmax(-1) == torch.tensor(golds)).tolist()
            chance.append(1 / len(labels))
        results[k] = {"accuracy": float(np.mean(correct)), "chance": float(np.mean(chance))}
    return results
