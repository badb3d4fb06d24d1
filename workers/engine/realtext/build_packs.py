"""Builds the real-text task packs (packs/*.json) from WordNet 3.0 as Debian ships it.

    apt-get install wordnet-base
    python -m workers.engine.realtext.build_packs [--wordnet /usr/share/wordnet]

WordNet files every noun synset under a lexicographer category (noun.animal,
noun.plant, noun.food, noun.artifact, noun.person, ...) and gives it a gloss: a
definition written by a person, often followed by example sentences in quotes.
The packs ask a model for the category of a definition (2-, 3- and 4-way), the
same with the labels replaced by unrelated words (so only the demonstrations can
tell the model which word means which category; shipped in both label orders,
and averaging the two cancels the model's prior for either word), and an
out-of-distribution pair: trained on definitions, evaluated on WordNet's example
sentences.

Rules, identical for every pack: definitions of 4 to 24 words; synsets whose
definition names a taxon ("a genus of ...", "family of ...") are left out, since
they define a group rather than a thing; texts are deduplicated across the whole
of WordNet (a text that appears under two categories is dropped); each pack draws
an example pool of 120 (enough for N=64 plus its dev split of 32) and 200
evaluation examples, class-balanced, the evaluation set disjoint from the pool
(by text and by synset). The order is a hash of the text: the output is the same
on every machine. The WordNet licence is copied beside the packs.
"""
import argparse
import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path

PACKS_DIR = Path(__file__).parent / "packs"
LICENSE_NAME = "WORDNET-LICENSE.txt"
DEFAULT_WORDNET = Path("/usr/share/wordnet")
DEBIAN_COPYRIGHT = Path("/usr/share/doc/wordnet-base/copyright")
POOL_SIZE = 120
EVAL_SIZE = 200
MIN_WORDS, MAX_WORDS = 4, 24
TEMPLATE = "Text:{x}\nLabel:"
# WordNet's lexicographer file numbers (lexnames(5WN)) for the categories used here.
LEXNAMES = {5: "animal", 6: "artifact", 13: "food", 18: "person", 20: "plant"}
TAXON = re.compile(r"^(a |an |the )?(large |small )?(genus|family|order|suborder|subfamily|superfamily|class|"
                   r"subclass|phylum|subphylum|division|tribe|kingdom|subkingdom|superorder|infraorder)\b",
                   re.IGNORECASE)

SOURCE = "WordNet 3.0 (Princeton University), Debian package wordnet-base; licence in WORDNET-LICENSE.txt"

PACKS = [
    {"name": "wordnet-animal-or-plant", "classes": {"animal": "animal", "plant": "plant"},
     "description": "WordNet definitions: does it define an animal or a plant?"},
    {"name": "wordnet-animal-plant-food", "classes": {"animal": "animal", "plant": "plant", "food": "food"},
     "description": "WordNet definitions: an animal, a plant or a food?"},
    {"name": "wordnet-four-kinds", "classes": {"animal": "animal", "plant": "plant", "food": "food",
                                               "artifact": "artifact"},
     "description": "WordNet definitions: an animal, a plant, a food or an artifact (a thing people make)?"},
    {"name": "wordnet-remapped-a", "classes": {"left": "animal", "right": "plant"}, "remapped": True,
     "order_key": "wordnet-remapped",
     "description": "WordNet definitions of animals ('left') and plants ('right'): the labels mean nothing, "
                    "so only the demonstrations teach the mapping. Pair with wordnet-remapped-b (labels swapped)."},
    {"name": "wordnet-remapped-b", "classes": {"right": "animal", "left": "plant"}, "remapped": True,
     "order_key": "wordnet-remapped",
     "description": "WordNet definitions of animals ('right') and plants ('left'): the labels of "
                    "wordnet-remapped-a swapped; average the two to cancel the model's label prior."},
    {"name": "wordnet-person-or-artifact", "classes": {"person": "person", "artifact": "artifact"},
     "ood_partner": "wordnet-person-or-artifact-usage",
     "description": "WordNet definitions: does it define a person or an artifact? Train here, evaluate on "
                    "wordnet-person-or-artifact-usage."},
    {"name": "wordnet-person-or-artifact-usage", "classes": {"person": "person", "artifact": "artifact"},
     "usage": True,
     "description": "Out-of-distribution partner of wordnet-person-or-artifact: WordNet's example sentences "
                    "using a word for a person or an artifact (usage, not definitions); its synsets are "
                    "disjoint from the partner's."},
]


def _order(text: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}|{text}".encode()).hexdigest()


def read_synsets(wordnet: Path) -> list[dict]:
    """(offset, category, lemmas, definition, example sentences) of every noun synset."""
    out = []
    with open(wordnet / "data.noun", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  "):  # the licence header
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            lex = int(fields[1])
            count = int(fields[3], 16)
            lemmas = [fields[4 + 2 * i].replace("_", " ").lower() for i in range(count)]
            lemmas = [re.sub(r"\(.*\)$", "", w) for w in lemmas]
            gloss = gloss.strip()
            examples = re.findall(r'"([^"]+)"', gloss)
            definition = gloss.split('; "')[0].split(' "')[0].strip().rstrip(";").strip()
            out.append({"offset": fields[0], "lex": lex, "lemmas": lemmas, "definition": definition,
                        "examples": [e.strip() for e in examples]})
    return out


def _usable(text: str) -> bool:
    n = len(text.split())
    return MIN_WORDS <= n <= MAX_WORDS and not TAXON.match(text)


def texts_by_category(synsets: list[dict], usage: bool) -> dict[str, list[tuple[str, str]]]:
    """category -> [(text, synset offset)], texts unique across all of WordNet's nouns."""
    rows = []
    for s in synsets:
        if usage:
            for e in s["examples"]:  # a sentence that actually uses one of the synset's words
                if any(re.search(rf"\b{re.escape(w)}\b", e.lower()) for w in s["lemmas"]):
                    rows.append((e, s["offset"], s["lex"]))
        else:
            rows.append((s["definition"], s["offset"], s["lex"]))
    counts = Counter(t for t, _, _ in rows)
    out: dict[str, list[tuple[str, str]]] = {name: [] for name in LEXNAMES.values()}
    for text, offset, lex in rows:
        if lex in LEXNAMES and counts[text] == 1 and _usable(text):
            out[LEXNAMES[lex]].append((text, offset))
    return out


def _balanced(by_label: dict[str, list[tuple[str, str]]], count: int, salt: str) -> list[dict]:
    """count examples cycling through the labels, then shuffled by hash."""
    labels = list(by_label)
    picked = []
    for i in range(count):
        label = labels[i % len(labels)]
        text, _ = by_label[label][i // len(labels)]
        picked.append({"input": text, "output": label})
    return sorted(picked, key=lambda e: _order(e["input"], salt + "|shuffle"))


def build_pack(spec: dict, definitions, usages, used_offsets: set) -> dict:
    name = spec["name"]
    source = usages if spec.get("usage") else definitions
    by_label = {}
    for label, category in spec["classes"].items():
        # the same ordering for a category in every pack that uses it (salted by category, not by pack),
        # so both remapped packs hold the very same texts
        rows = sorted(source[category], key=lambda r: _order(r[0], category))
        if spec.get("usage"):
            rows = [r for r in rows if r[1] not in used_offsets]
        by_label[label] = rows
    per_label_eval = -(-EVAL_SIZE // len(by_label))
    per_label_pool = -(-POOL_SIZE // len(by_label))
    for label, rows in by_label.items():
        if len(rows) < per_label_eval + per_label_pool:
            raise SystemExit(f"{name}: only {len(rows)} usable texts for '{label}'")
    order_key = spec.get("order_key", name)  # packs sharing it list the same texts in the same order
    evals = _balanced({k: v[:per_label_eval] for k, v in by_label.items()}, EVAL_SIZE, order_key + "|eval")
    pool = _balanced({k: v[per_label_eval:] for k, v in by_label.items()}, POOL_SIZE, order_key + "|pool")
    if not spec.get("usage"):
        used_offsets.update(r[1] for rows in by_label.values() for r in rows[:per_label_eval + per_label_pool])
    assert not {e["input"] for e in evals} & {e["input"] for e in pool}
    assert len({e["input"] for e in evals}) == EVAL_SIZE and len({e["input"] for e in pool}) == POOL_SIZE
    return {"name": name, "description": spec["description"], "kind": "classification",
            "input_template": TEMPLATE, "labels": list(spec["classes"]), "held_out": bool(spec.get("remapped")),
            "source": SOURCE, "examples": pool, "eval_examples": evals}


def build_all(wordnet: Path = DEFAULT_WORDNET) -> list[dict]:
    synsets = read_synsets(wordnet)
    definitions = texts_by_category(synsets, usage=False)
    usages = texts_by_category(synsets, usage=True)
    used: set = set()
    return [build_pack(spec, definitions, usages, used) for spec in PACKS]


def write_packs(wordnet: Path = DEFAULT_WORDNET, out: Path = PACKS_DIR) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for pack in build_all(wordnet):
        path = out / f"{pack['name']}.json"
        path.write_text(json.dumps(pack, indent=1, ensure_ascii=False) + "\n")
        paths.append(path)
    licence = DEBIAN_COPYRIGHT if DEBIAN_COPYRIGHT.exists() else wordnet / "LICENSE"
    shutil.copyfile(licence, out / LICENSE_NAME)
    return paths


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wordnet", type=Path, default=DEFAULT_WORDNET, help="folder with data.noun")
    parser.add_argument("--out", type=Path, default=PACKS_DIR)
    args = parser.parse_args(argv)
    for p in write_packs(args.wordnet, args.out):
        print(p)


if __name__ == "__main__":
    main()
