"""Writes the built-in task packs for the embedded model (packs/*.json).

    python -m workers.engine.embedded.packs

Each pack is an ordinary task (the model's canonical template "{x} ", a label set,
an example pool of 120 and 200 evaluation examples) that any model can run. `held_out` is true when its label
tuple is made only of held-out label words, so the embedded model never saw that
assignment in training. The output is deterministic.
"""
import json
from pathlib import Path

import numpy as np

from .corpus import CANONICAL_TEMPLATE, sample_input
from .world import FRAMES, HELD_OUT_FRAMES, HELD_OUT_LABEL_WORDS

PACKS_DIR = Path(__file__).parent / "packs"
POOL_SIZE = 120
EVAL_SIZE = 200

# Each class: (category, its keywords in this task). Four keywords per class, as
# in the held-out tasks of heldout.py.
PACKS = [
    {"name": "animal-or-fruit", "classes": {"yes": ("animal", "cat dog horse cow"), "no": ("fruit", "apple pear plum grape")},
     "description": "Does the sentence mention an animal (yes) or a fruit (no)?"},
    {"name": "vehicle-tool-clothing", "classes": {"A": ("vehicle", "car bus train boat"), "B": ("tool", "hammer drill wrench axe"),
                                                  "C": ("clothing", "shirt coat hat scarf")},
     "description": "Is the sentence about a vehicle (A), a tool (B) or a piece of clothing (C)?"},
    {"name": "instrument-or-furniture", "classes": {"good": ("instrument", "piano violin guitar drum"),
                                                    "bad": ("furniture", "chair table sofa bed")},
     "description": "Sentences about musical instruments are 'good', about furniture 'bad'."},
    {"name": "creature-kind", "classes": {"animal": ("animal", "cat dog horse cow"), "bird": ("bird", "eagle owl duck goose"),
                                          "fish": ("fish", "salmon trout shark tuna")},
     "description": "Name the kind of creature in the sentence: animal, bird or fish (labels the model "
                    "learned in training, so it knows them without demonstrations)."},
    {"name": "bird-or-vegetable", "classes": {"yes": ("bird", "eagle owl duck goose"), "no": ("vegetable", "carrot potato onion pea")},
     "frames": "held_out",
     "description": "Out-of-distribution partner of animal-or-fruit: a bird (yes) or a vegetable (no), "
                    "in sentence shapes never seen in training."},
]


def _examples(rng, classes: dict, frames: list[str], count: int, exclude: set) -> list[dict]:
    """count examples cycling through the classes, distinct from each other and from `exclude`
    while enough distinct sentences remain."""
    labels = list(classes)
    out, seen = [], set(exclude)
    for attempt in range(count * 50):
        if len(out) == count:
            break
        label = labels[len(out) % len(labels)]
        cat, words = classes[label]
        text = sample_input(rng, [cat], frames, {cat: words.split()})
        if text in seen and attempt < count * 40:
            continue
        seen.add(text)
        out.append({"input": text, "output": label})
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def build_pack(spec: dict, seed: int = 0) -> dict:
    rng = np.random.default_rng([seed, sum(map(ord, spec["name"]))])
    frames = HELD_OUT_FRAMES if spec.get("frames") == "held_out" else FRAMES
    labels = list(spec["classes"])
    pool = _examples(rng, spec["classes"], frames, POOL_SIZE, set())
    evals = _examples(rng, spec["classes"], frames, EVAL_SIZE, {e["input"] for e in pool})
    return {"name": spec["name"], "description": spec["description"], "kind": "classification",
            "input_template": CANONICAL_TEMPLATE, "labels": labels,
            "held_out": all(label in HELD_OUT_LABEL_WORDS for label in labels),
            "examples": pool, "eval_examples": evals}


def write_packs() -> list[Path]:
    PACKS_DIR.mkdir(exist_ok=True)
    paths = []
    for spec in PACKS:
        path = PACKS_DIR / f"{spec['name']}.json"
        path.write_text(json.dumps(build_pack(spec), indent=1) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_packs():
        print(p)
