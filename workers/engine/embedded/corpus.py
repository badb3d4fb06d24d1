"""Generates the embedded model's training sequences: many small classification
tasks, each shown as a run of demonstrations in the ICL prompt format.

A task picks 2-4 classes (categories, or super-categories), names them with
label words and lists demonstrations `Text:<sentence>\nLabel:<label>` joined by
blank lines. The loss falls on the label tokens only, so every sequence teaches
0-shot to (K-1)-shot prediction at once. Label tuples with two or more held-out
label words are never generated, which keeps those assignments unseen.
"""
from dataclasses import dataclass

import numpy as np

from .world import (ADJECTIVE_SHARE, ADJECTIVES, CATEGORIES, FRAMES, HELD_OUT_LABEL_WORDS, LABEL_WORDS,
                    SUPER_CATEGORIES)

# The model's own format puts the answer right after the input ("{x} " then the
# label), so a demonstration's label directly follows its keyword; the
# "Text:{x}\nLabel:"-style formats users often write are mixed in.
CANONICAL_TEMPLATE = "{x} "
TEMPLATES = [
    (CANONICAL_TEMPLATE, 0.6),
    ("Text:{x}\nLabel:", 0.25),
    ("Input:{x}\nOutput:", 0.05),
    ("Sentence:{x}\nClass:", 0.05),
    ("Text:{x}\nCategory:", 0.05),
]
TRAIN_LABEL_WORDS = [w for w in LABEL_WORDS if w not in HELD_OUT_LABEL_WORDS]
HELD_OUT_LIST = sorted(HELD_OUT_LABEL_WORDS)


@dataclass
class TaskDraw:
    """One sampled task: its classes (each a list of categories) and label words."""

    classes: list[list[str]]
    labels: list[str]
    template: str


def sample_labels(rng: np.random.Generator, n: int, natural: list[str] | None) -> list[str]:
    """Label words for n classes; at most one comes from the held-out set."""
    if natural is not None:
        return natural
    labels = list(rng.choice(TRAIN_LABEL_WORDS, size=n, replace=False))
    if rng.random() < 0.35:
        labels[rng.integers(n)] = str(rng.choice(HELD_OUT_LIST))
    return [str(x) for x in labels]


def sample_task(rng: np.random.Generator, natural_prob: float = 0.25) -> TaskDraw:
    """Draw a random training task."""
    n_classes = int(rng.choice([2, 3, 4], p=[0.55, 0.3, 0.15]))
    if rng.random() < 0.2:
        n_classes = min(n_classes, len(SUPER_CATEGORIES))
        names = [str(s) for s in rng.choice(list(SUPER_CATEGORIES), size=n_classes, replace=False)]
        classes = [SUPER_CATEGORIES[s] for s in names]
    else:
        names = [str(c) for c in rng.choice(list(CATEGORIES), size=n_classes, replace=False)]
        classes = [[c] for c in names]
    natural = names if rng.random() < natural_prob else None
    templates, weights = zip(*TEMPLATES)
    template = templates[int(rng.choice(len(templates), p=weights))]
    return TaskDraw(classes, sample_labels(rng, n_classes, natural), template)


def sample_input(rng: np.random.Generator, categories: list[str], frames: list[str],
                 vocab: dict[str, list[str]] | None = None) -> str:
    """A sentence whose keyword is drawn from one of the given categories
    (from `vocab[category]` when given, a subset of the category's words)."""
    cat = categories[int(rng.integers(len(categories)))]
    words = (vocab or CATEGORIES)[cat]
    word = words[int(rng.integers(len(words)))]
    if rng.random() < ADJECTIVE_SHARE:
        word = f"{ADJECTIVES[cat][int(rng.integers(len(ADJECTIVES[cat])))]} {word}"
    return frames[int(rng.integers(len(frames)))].format(w=word)


def sample_vocab(rng: np.random.Generator, subset_prob: float) -> dict[str, list[str]] | None:
    """Half the sequences use only 3-6 words per category, so exact repeats of a
    keyword are common: copying the label of a repeated word is learned first,
    matching by category follows."""
    if rng.random() >= subset_prob:
        return None
    return {c: [str(w) for w in rng.choice(ws, size=int(rng.integers(3, 7)), replace=False)]
            for c, ws in CATEGORIES.items()}


def sample_repeat_sequence(rng: np.random.Generator, length: int) -> tuple[str, int]:
    """Random words, then the same words again: the second half can only be
    predicted by finding the earlier occurrence and copying what followed it.
    Returns the text and the number of words in each half."""
    words = ([w for ws in CATEGORIES.values() for w in ws] + [a for ads in ADJECTIVES.values() for a in ads]
             + LABEL_WORDS + list(CATEGORIES))
    half = [str(w) for w in rng.choice(words, size=length, replace=False)]
    return " ".join(half + half), length


def sample_sequence(rng: np.random.Generator, n_demos: int, natural_prob: float = 0.25,
                    subset_prob: float = 0.5) -> tuple[str, list[str]]:
    """One training text of n_demos demonstrations, and its answers in order."""
    task = sample_task(rng, natural_prob)
    vocab = sample_vocab(rng, subset_prob)
    demos, answers = [], []
    for _ in range(n_demos):
        k = int(rng.integers(len(task.classes)))
        x = sample_input(rng, task.classes[k], FRAMES, vocab)
        demos.append(task.template.format(x=x) + task.labels[k])
        answers.append(task.labels[k])
    return "\n\n".join(demos), answers
