"""Benchmark presets loaded with `datasets` from local folders written here in the
hub's own layout (parquet and JSON-lines shards, README `configs:`), through the
same load_preset call that reads the hub."""
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workers.engine.presets import PRESETS, REMAP_WORDS, preset
from workers.engine.presets_loader import PresetLoadError, load_preset
from workers.engine.tasks import task_from_dict


def parquet(path, columns: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def readme_configs(root, config, splits, ext):
    root.mkdir(parents=True, exist_ok=True)
    lines = ["---", "configs:", f"- config_name: {config}", "  data_files:"]
    for split in splits:
        lines += [f"  - split: {split}", f"    path: {config}/{split}-*.{ext}"]
    (root / "README.md").write_text("\n".join(lines + ["---", ""]))


def test_preset_table_is_torch_free_and_complete():
    code = "import sys; import workers.engine.presets as p; print(len(p.PRESETS)); assert 'torch' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == len(PRESETS) == 12
    for p in PRESETS:
        assert "{x}" in p["template"] and p["hf"] and p["eval_split"] and p["description"]
        assert (p["kind"] == "classification") == bool(p.get("labels")), p["name"]


def test_sst2_from_parquet_shards(tmp_path):
    root = tmp_path / "sst2"
    sentences = [f"review number {i} was {'great' if i % 2 else 'dull'}" for i in range(60)]
    parquet(root / "data" / "train-00000-of-00001.parquet",
            {"idx": list(range(60)), "sentence": sentences, "label": [i % 2 for i in range(60)]})
    dup = ["the same sentence twice"] * 4 + [f"a validation review {i}" for i in range(20)]
    parquet(root / "data" / "validation-00000-of-00001.parquet",
            {"idx": list(range(24)), "sentence": dup, "label": [1] * 4 + [i % 2 for i in range(20)]})
    steps = []
    task = load_preset("sst2", source=str(root), on_progress=lambda *a: steps.append(a), pool_size=40, eval_size=16)
    t = task_from_dict(task)  # a valid engine task
    evals = [e.input for e in t.eval_examples]
    assert len(evals) == len(set(evals)) == 16 and evals.count("the same sentence twice") <= 1
    assert not set(evals) & {e.input for e in t.examples}
    assert [e.output for e in t.eval_examples].count("0") == 8  # class-balanced
    assert len(t.examples) == 40 and t.labels == ["0", "1"] and t.input_template == "Text:{x}\nLabel:"
    assert steps[0][0] == "download" and steps[-1] == ("done", 1, 1) and any(s[0] == "rows" for s in steps)
    assert load_preset("sst2", source=str(root), pool_size=40, eval_size=16) == task  # deterministic


def test_finsen_keeps_labels_0_and_2_from_json_shards(tmp_path):
    root = tmp_path / "financial_phrasebank"
    readme_configs(root, "sentences_50agree", ["train"], "jsonl")
    (root / "sentences_50agree").mkdir()
    rows = [{"sentence": f"profit item {i} moved", "label": i % 3} for i in range(90)]
    (root / "sentences_50agree" / "train-00000-of-00001.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    task = load_preset("finsen", source=str(root), pool_size=30, eval_size=20)
    outputs = {e["output"] for e in task["examples"] + task["eval_examples"]}
    assert outputs == {"0", "2"} and task["labels"] == ["0", "2"]
    neutral = {f"profit item {i} moved" for i in range(90) if i % 3 == 1}
    assert not neutral & {e["input"] for e in task["examples"] + task["eval_examples"]}
    assert not {e["input"] for e in task["examples"]} & {e["input"] for e in task["eval_examples"]}


def test_sciq_is_remapped_to_unrelated_words(tmp_path):
    root = tmp_path / "sciq"
    n = 40
    cols = {"question": [f"What is thing {i}?" for i in range(n)], "correct_answer": [f"right{i}" for i in range(n)],
            "distractor1": [f"wrong{i}a" for i in range(n)], "distractor2": [f"wrong{i}b" for i in range(n)],
            "distractor3": [f"wrong{i}c" for i in range(n)], "support": [""] * n}
    for split in ("train", "validation", "test"):
        parquet(root / "data" / f"{split}-00000-of-00001.parquet", cols)
    task = load_preset("sciq", source=str(root), pool_size=10, eval_size=20)
    assert task["labels"] == REMAP_WORDS[:4] and task["kind"] == "classification"
    positions = set()
    for e in task["eval_examples"] + task["examples"]:
        i = e["input"].split("?")[0].split()[-1]
        assert f"[{e['output']}] right{i}" in e["input"]  # the label word marks the correct option
        positions.add(e["output"])
    assert len(positions) >= 3  # the correct option is not always in the same place
    task_from_dict(task)


def test_qasc_choices_struct_is_remapped(tmp_path):
    root = tmp_path / "qasc"
    rows = []
    for i in range(30):
        keys = list("ABCDEFGH")
        rows.append({"id": str(i), "question": f"Which one {i}?", "answerKey": keys[i % 8],
                     "choices": {"text": [f"opt{i}{k}" for k in keys], "label": keys}})
    for split in ("train", "validation"):
        parquet(root / "data" / f"{split}-00000-of-00001.parquet", {k: [r[k] for r in rows] for k in rows[0]})
    task = load_preset("qasc", source=str(root), pool_size=8, eval_size=16)
    assert task["labels"] == REMAP_WORDS
    for e in task["eval_examples"]:
        i = e["input"].split("?")[0].split()[-1]
        key = "ABCDEFGH"[int(i) % 8]
        assert f"[{e['output']}] opt{i}{key}" in e["input"] and "[A]" not in e["input"]


def test_offline_says_the_hub_is_needed_and_returns_nothing(monkeypatch):
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    seen = []
    with pytest.raises(PresetLoadError) as err:
        load_preset("agnews", on_progress=lambda *a: seen.append(a))
    assert "needs the Hugging Face hub" in str(err.value) and "fancyzhx/ag_news" in str(err.value)
    assert "Nothing was imported" in str(err.value) and ("done", 1, 1) not in seen


def test_a_missing_column_is_named(tmp_path):
    root = tmp_path / "agnews"
    for split in ("train", "test"):
        parquet(root / "data" / f"{split}-00000-of-00001.parquet", {"body": ["x", "y"], "label": [0, 1]})
    with pytest.raises(PresetLoadError) as err:
        load_preset("agnews", source=str(root))
    assert "no column 'text'" in str(err.value) and "body" in str(err.value)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(PresetLoadError) as err:
        load_preset("imdb")
    assert "sst2" in str(err.value) and preset("imdb") is None
