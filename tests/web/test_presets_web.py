"""The web side of the benchmark presets reads the engine's one table and loads a preset
through the engine's loader (label map, filtering, evaluation set and pool), from a local
copy in the hub's layout here; offline it says the hub is needed and imports nothing."""
import json

import pytest
from django.core.management import call_command

from webapp.lab.models import Example, Task
from webapp.lab.services import presets as web_presets
from webapp.teams.services import copy_task, personal_team
from workers.engine import presets as engine_presets


def test_one_preset_table(db):
    assert web_presets.PRESETS is engine_presets.PRESETS
    call_command("load_builtin_tasks", verbosity=0)
    for p in engine_presets.PRESETS:
        t = Task.objects.get(owner__isnull=True, name=p["name"])
        assert t.needs_hub and t.hf_dataset == p["hf"] and t.input_template == p["template"]
        assert t.labels == (p.get("labels") or []) and t.held_out == (p["train_split"] is None)


@pytest.fixture
def finsen_copy(user):
    call_command("load_builtin_tasks", verbosity=0)
    shared = Task.objects.get(owner__isnull=True, name="finsen")
    task = copy_task(user, shared, personal_team(user))
    Example.objects.create(task=task, position=0, input="kept unless the import succeeds", output="0")
    return task


def _finsen_shards(root):
    root = root / "takala" / "financial_phrasebank"
    (root / "sentences_50agree").mkdir(parents=True)
    (root / "README.md").write_text("---\nconfigs:\n- config_name: sentences_50agree\n  data_files:\n"
                                    "  - split: train\n    path: sentences_50agree/train-*.jsonl\n---\n")
    rows = [{"sentence": f"quarterly profit item {i} moved", "label": i % 3} for i in range(1800)]
    (root / "sentences_50agree" / "train-00000-of-00001.jsonl").write_text("\n".join(map(json.dumps, rows)))


def test_preset_loads_through_the_engine_loader(client_in, finsen_copy, tmp_path, settings):
    settings.LAB_DATASETS_DIR = str(tmp_path)
    _finsen_shards(tmp_path)
    page = client_in.get(f"/tasks/{finsen_copy.pk}/").content.decode()
    assert 'name="preset" value="finsen"' in page
    response = client_in.post(f"/tasks/{finsen_copy.pk}/import-hub/", {"preset": "finsen"}, follow=True)
    text = response.content.decode()
    assert "Loaded preset finsen" in text, [str(m) for m in response.context["messages"]]
    pool = list(finsen_copy.examples.filter(split=Example.POOL))
    evals = list(finsen_copy.examples.filter(split=Example.EVAL))
    assert pool and evals and {e.output for e in pool + evals} == {"0", "2"}  # neutral (1) dropped
    assert not {e.input for e in pool} & {e.input for e in evals}
    assert "kept unless the import succeeds" not in {e.input for e in pool}


def test_offline_preset_import_changes_nothing(client_in, finsen_copy, tmp_path, settings, monkeypatch):
    import datasets.config
    from huggingface_hub import constants

    settings.LAB_DATASETS_DIR = str(tmp_path)  # empty: no local copy
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    response = client_in.post(f"/tasks/{finsen_copy.pk}/import-hub/", {"preset": "finsen"}, follow=True)
    text = response.content.decode()
    assert "needs the Hugging Face hub" in text and "Nothing was imported" in text
    assert [e.input for e in finsen_copy.examples.all()] == ["kept unless the import succeeds"]
