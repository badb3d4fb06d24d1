"""Writes the built-in task packs for the embedded model (packs/*.json).

    python -m workers.engine.embedded.packs

Each pack is an ordinary task (the model's canonical template "{x} ", a label set,
an example pool of 120 and 200 evaluation examples, distinct and disjoint from the
pool) that any model can run. `held_out` is true when its label tuple is made only
of held-out label words, so the embedded model never saw that assignment in
training. The output is deterministic.

Counterbalanced: a pack with held-out labels also ships in every cyclic rotation of
its label assignment (`-r1`, `-r2`: the same sentences, each label word naming the
next class). The model has priors for label words (at 0-shot it answers 'A' for
fruit 99% of the time), so one assignment alone can sit far from chance without
any learning; averaged over all rotations, any predictor that ignores the
demonstrations scores exactly chance.
"""
import json
from pathlib import Path

import numpy as np

from .corpus import CANONICAL_TEMPLATE, sample_input
from .world import CATEGORIES, FRAMES, HELD_OUT_FRAMES, HELD_OUT_LABEL_WORDS

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
    {"name": "bird-or-vegetable", "classes": {"yes": ("bird", " ".join(CATEGORIES["bird"])),
                                              "no": ("vegetable", " ".join(CATEGORIES["vegetable"]))},
     "frames": "held_out",
     "description": "Out-of-distribution partner of animal-or-fruit: a bird (yes) or a vegetable (no), "
                    "in sentence shapes never seen in training (all 16 words of each category, so that "
                    "320 distinct sentences exist)."},
]


def rotations(spec: dict) -> list[dict]:
    """The spec and, when its labels are held-out words, every cyclic rotation of its label assignment."""
    labels = list(spec["classes"])
    if not all(label in HELD_OUT_LABEL_WORDS for label in labels):
        return [spec]
    out = [spec]
    for r in range(1, len(labels)):
        classes = {labels[(i + r) % len(labels)]: spec["classes"][label] for i, label in enumerate(labels)}
        named = ", ".join(f"{cat} = {label}" for label, (cat, _) in classes.items())
        out.append({**spec, "name": f"{spec['name']}-r{r}", "classes": classes, "rotation_of": spec["name"],
                    "description": f"{spec['name']} with its labels rotated ({named}); average the rotations "
                                   "to cancel the model's label priors."})
    return out


def _examples(rng, classes: dict, frames: list[str], count: int, exclude: set) -> list[dict]:
    """count examples cycling through the classes, distinct from each other and from `exclude`
    while enough distinct sentences remain."""
    labels = list(classes)
    out, seen = [], set(exclude)
    for _ in range(count * 200):
        if len(out) == count:
            break
        label = labels[len(out) % len(labels)]
        cat, words = classes[label]
        text = sample_input(rng, [cat], frames, {cat: words.split()})
        if text in seen:
            continue
        seen.add(text)
        out.append({"input": text, "output": label})
    if len(out) < count:
        raise ValueError(f"only {len(out)} distinct sentences for {count} examples; use more keywords or frames")
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def build_pack(spec: dict, seed: int = 0) -> dict:
    labels = list(spec["classes"])
    if "rotation_of" in spec:  # the original's sentences, in its order, each label moved on
        original = build_pack(next(p for p in PACKS if p["name"] == spec["rotation_of"]), seed)
        rename = dict(zip(original["labels"], labels))
        pool = [{"input": e["input"], "output": rename[e["output"]]} for e in original["examples"]]
        evals = [{"input": e["input"], "output": rename[e["output"]]} for e in original["eval_examples"]]
    else:
        rng = np.random.default_rng([seed, sum(map(ord, spec["name"]))])
        frames = HELD_OUT_FRAMES if spec.get("frames") == "held_out" else FRAMES
        pool = _examples(rng, spec["classes"], frames, POOL_SIZE, set())
        evals = _examples(rng, spec["classes"], frames, EVAL_SIZE, {e["input"] for e in pool})
    return {"name": spec["name"], "description": spec["description"], "kind": "classification",
            "input_template": CANONICAL_TEMPLATE, "labels": labels,
            "held_out": all(label in HELD_OUT_LABEL_WORDS for label in labels),
            "examples": pool, "eval_examples": evals}


def write_packs() -> list[Path]:
    PACKS_DIR.mkdir(exist_ok=True)
    paths = []
    for spec in [r for spec in PACKS for r in rotations(spec)]:
        path = PACKS_DIR / f"{spec['name']}.json"
        path.write_text(json.dumps(build_pack(spec), indent=1) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_packs():
        print(p)
