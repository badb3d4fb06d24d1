"""Held-out in-context learning check for the embedded model.

Builds tasks whose label tuple is made only of held-out label words (an
assignment never seen in training), prompts the model with k demonstrations and
scores the label set at the answer position. Used by the training script to
monitor progress; the engine's own evaluation measures the shipped weights.
"""
import numpy as np
import torch

from .corpus import CANONICAL_TEMPLATE, sample_input
from .world import CATEGORIES, FRAMES

HELD_OUT_LABEL_TUPLES = [
    ["yes", "no"], ["A", "B"], ["positive", "negative"], ["good", "bad"], ["no", "yes"],
    ["B", "A"], ["C", "D"], ["negative", "positive"], ["bad", "good"], ["D", "A"],
    ["A", "B", "C"], ["positive", "negative", "neutral"], ["yes", "no", "A"], ["B", "C", "D"],
]


def heldout_tasks(n_tasks: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """(categories, labels) pairs: each category is one class."""
    rng = np.random.default_rng(seed)
    tasks = []
    for i in range(n_tasks):
        labels = HELD_OUT_LABEL_TUPLES[i % len(HELD_OUT_LABEL_TUPLES)]
        cats = [str(c) for c in rng.choice(list(CATEGORIES), size=len(labels), replace=False)]
        tasks.append((cats, labels))
    return tasks


@torch.no_grad()
def heldout_curve(model, tok, n_tasks=20, n_queries=100, ks=(0, 1, 2, 4, 8, 16), seed=1, batch=64) -> dict:
    """Mean held-out accuracy (and chance) for each k, over n_tasks x n_queries."""
    rng = np.random.default_rng(seed + 1000)
    template = CANONICAL_TEMPLATE
    results = {}
    tasks = heldout_tasks(n_tasks, seed)
    for k in ks:
        correct, chance = [], []
        for cats, labels in tasks:
            label_ids = [tok.convert_tokens_to_ids(l) for l in labels]
            prompts, golds = [], []
            for _ in range(n_queries):
                demos = []
                for _ in range(k):
                    c = int(rng.integers(len(cats)))
                    demos.append(template.format(x=sample_input(rng, [cats[c]], FRAMES)) + labels[c])
                g = int(rng.integers(len(cats)))
                prompts.append("\n\n".join(demos + [template.format(x=sample_input(rng, [cats[g]], FRAMES))]))
                golds.append(g)
            for i in range(0, len(prompts), batch):
                enc = tok(prompts[i:i + batch], padding=True, return_tensors="pt", padding_side="left")
                logits = model(**enc).logits[:, -1, label_ids]
                pred = logits.argmax(-1)
                correct += (pred == torch.tensor(golds[i:i + batch])).tolist()
            chance.append(1 / len(labels))
        results[k] = {"accuracy": float(np.mean(correct)), "chance": float(np.mean(chance))}
    return results
