"""The shipped task packs: WordNet real-text packs (regenerated identically from the
Debian files, licence beside them, pools and evaluation sets distinct and
disjoint) and the embedded packs counterbalanced over label rotations."""
import json
from collections import Counter
from pathlib import Path

import pytest

from workers.engine.embedded.packs import PACKS as EMBEDDED_SPECS
from workers.engine.embedded.packs import PACKS_DIR as EMBEDDED_DIR
from workers.engine.kshot import counterbalanced, kshot_metrics, kshot_prompts
from workers.engine.realtext import build_packs
from workers.engine.tasks import DEMO_SEPARATOR, builtin_tasks, get_task

REALTEXT = sorted(build_packs.PACKS_DIR.glob("*.json"))


def load(path):
    return json.loads(Path(path).read_text())


def test_realtext_packs_regenerate_identically_from_debian_wordnet(tmp_path):
    """The shipped packs are what the build script makes from Debian's WordNet. Without the
    dictionary this fails with the install command (the suite never skips a check)."""
    assert (build_packs.DEFAULT_WORDNET / "data.noun").exists(), (
        f"WordNet is not at {build_packs.DEFAULT_WORDNET}: apt-get install wordnet-base")
    build_packs.write_packs(out=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in build_packs.PACKS_DIR.iterdir())
    for path in tmp_path.iterdir():
        assert path.read_bytes() == (build_packs.PACKS_DIR / path.name).read_bytes(), path.name


def test_wordnet_licence_ships_beside_the_packs():
    text = (build_packs.PACKS_DIR / build_packs.LICENSE_NAME).read_text()
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in text


@pytest.mark.parametrize("path", REALTEXT, ids=lambda p: p.stem)
def test_realtext_pack_shape(path):
    assert path.stat().st_size < 300_000
    d = load(path)
    task = get_task(d["name"])  # found by name through the built-in lookup
    pool, evals = [e.input for e in task.examples], [e.input for e in task.eval_examples]
    assert len(pool) == len(set(pool)) == 120 and len(evals) == len(set(evals)) == 200
    assert not set(pool) & set(evals)
    counts = Counter(e.output for e in task.eval_examples)
    assert max(counts.values()) - min(counts.values()) <= 1 and set(counts) == set(task.labels)
    assert task.description and task.input_template == "Text:{x}\nLabel:"


def test_remapped_packs_are_the_same_texts_in_both_label_orders():
    a, b = get_task("wordnet-remapped-a"), get_task("wordnet-remapped-b")
    gold_a = {e.input: e.output for e in a.eval_examples + a.examples}
    gold_b = {e.input: e.output for e in b.eval_examples + b.examples}
    assert gold_a.keys() == gold_b.keys()
    assert all({gold_a[x], gold_b[x]} == {"left", "right"} for x in gold_a)


def test_ood_usage_pack_is_disjoint_from_its_definition_partner():
    defs, usage = get_task("wordnet-person-or-artifact"), get_task("wordnet-person-or-artifact-usage")
    assert usage.labels == defs.labels
    assert not {e.input for e in defs.examples + defs.eval_examples} & {e.input for e in usage.eval_examples}


def test_builtin_names_are_unique():
    names = [d["name"] for d in builtin_tasks()]
    assert len(names) == len(set(names))


def rotation_groups():
    names = sorted(p.stem for p in EMBEDDED_DIR.glob("*.json"))
    return {s["name"]: [n for n in names if n == s["name"] or n.startswith(s["name"] + "-r")] for s in EMBEDDED_SPECS}


def test_embedded_packs_ship_every_label_rotation_of_the_same_sentences():
    for base, group in rotation_groups().items():
        packs = [load(EMBEDDED_DIR / f"{n}.json") for n in group]
        if not packs[0]["held_out"]:
            assert len(group) == 1
            continue
        assert len(group) == len(packs[0]["labels"]), base
        inputs = [[e["input"] for e in p["eval_examples"]] for p in packs]
        assert all(i == inputs[0] for i in inputs)
        for j in range(len(inputs[0])):  # each sentence gets every label once across the rotations
            assert sorted(p["eval_examples"][j]["output"] for p in packs) == sorted(packs[0]["labels"])


@pytest.mark.parametrize("name", [p.stem for p in sorted(EMBEDDED_DIR.glob("*.json"))])
def test_embedded_eval_sets_are_distinct_and_disjoint_from_pools(name):
    d = load(EMBEDDED_DIR / f"{name}.json")
    evals = [e["input"] for e in d["eval_examples"]]
    assert len(evals) == len(set(evals)) == 200
    assert not set(evals) & {e["input"] for e in d["examples"]}


def test_embedded_icl_counterbalanced(embedded):
    """Averaged over the label rotations 0-shot sits at chance, 8-shot far above it
    (measured: 0.333 -> 0.967 on vehicle-tool-clothing, 0.5 -> 1.0 on bird-or-vegetable)."""
    for base in ("vehicle-tool-clothing", "bird-or-vegetable"):
        tasks = [get_task(n) for n in rotation_groups()[base]]
        zero = counterbalanced(embedded, tasks, 0, eval_size=200, batch_size=100)
        eight = counterbalanced(embedded, tasks, 8, eval_size=60, batch_size=60)
        assert abs(zero["accuracy"] - zero["chance"]) < 0.02, zero
        assert eight["accuracy"] >= zero["chance"] + 0.4, eight


def test_kshot_prompts_hold_k_demonstrations_from_the_pool_then_the_query():
    """Each query gets k distinct demonstrations of the task's pool (never an evaluation
    example), written as `demo` blocks before the query; k = 0 is the bare query."""
    task = get_task("vehicle-tool-clothing")
    pool = {task.demo(e.input, e.output) for e in task.examples}
    queries = task.eval_examples[:10]
    prompts, inputs, golds = kshot_prompts(task, 3, eval_size=10)
    assert inputs == [q.input for q in queries] and golds == [q.output for q in queries]
    for prompt, q in zip(prompts, queries):
        *demos, last = prompt.split(DEMO_SEPARATOR)
        assert last == task.query(q.input)
        assert len(demos) == len(set(demos)) == 3 and set(demos) <= pool
    assert len({p.split(DEMO_SEPARATOR)[0] for p in prompts}) > 1   # each query draws its own
    assert kshot_prompts(task, 0, eval_size=10)[0] == [task.query(q.input) for q in queries]
    assert kshot_prompts(task, 3, eval_size=10) == (prompts, inputs, golds)   # seeded


def test_counterbalanced_averages_the_per_task_metrics(embedded):
    tasks = [get_task(n) for n in rotation_groups()["bird-or-vegetable"]]
    out = counterbalanced(embedded, tasks, 2, eval_size=12, batch_size=12)
    per_task = [kshot_metrics(embedded, t, 2, eval_size=12, batch_size=12) for t in tasks]
    assert out["per_task"] == {t.name: m for t, m in zip(tasks, per_task)}
    for key in ("accuracy", "ece", "chance"):
        assert out[key] == pytest.approx(sum(m[key] for m in per_task) / len(tasks)), key
    assert out["chance"] == pytest.approx(1 / len(tasks[0].labels))
