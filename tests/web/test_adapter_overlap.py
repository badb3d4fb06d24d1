"""The LoRA subspace overlap between methods: when a run that trained an adapter finishes,
the worker measures its adapter against the adapter of every other done run of the
experiment with the same N and seed (the engine's `lora_subspace_overlap` over the saved
peft weights), stores each pair once, and results.json gives the mean over seeds per
method pair and N. A pair that cannot be measured is logged and skipped; the run stays
done. The adapters here are real safetensors files whose subspaces are known, written by
a stand-in for training (the real engine's adapters: test_real_engine.py, test_browser.py)."""
import logging

import pytest
import torch
from safetensors.torch import save_file

from webapp.lab.models import AdapterOverlap, Experiment, Run
from webapp.lab.services import lifecycle
from webapp.lab.services.lifecycle import run_job

from .conftest import FakeRunner, experiment_post

pytestmark = pytest.mark.django_db

OUT, R = 32, 4
MODULES = [f"base_model.model.model.layers.{i}.self_attn.{m}_proj" for i in range(2) for m in ("q", "o")]


def lora_weights(columns):
    """A saved LoRA adapter whose every lora_B spans the given output axes."""
    state = {}
    for module in MODULES:
        b = torch.zeros(OUT, R)
        for j, axis in enumerate(columns):
            b[axis, j] = float(R - j)
        state[f"{module}.lora_B.weight"] = b
        state[f"{module}.lora_A.weight"] = torch.ones(R, OUT)
    return state


# seed 0: SFT spans axes 0-3, IA2->SFT axes 0, 1, 4, 5 (overlap 1/2); seed 1: the same axes (1)
SUBSPACES = {("sft", 0): [0, 1, 2, 3], ("ia2-sft", 0): [0, 1, 4, 5], ("sft", 1): [0, 1, 2, 3],
             ("ia2-sft", 1): [0, 1, 2, 3]}


class LoraWritingRunner(FakeRunner):
    """The fake engine, saving an adapter folder the way peft's save_pretrained does, with
    weights chosen by `weights(method, seed)` (None: write unreadable bytes instead)."""

    def __init__(self, weights):
        super().__init__(steps=2)
        self.weights = weights

    def execute_run(self, config, key, on_progress=None, should_cancel=None, cache_dir=None):
        from pathlib import Path

        results = super().execute_run(config, key, on_progress, should_cancel, cache_dir)
        if key.method in ("icl", "base"):
            return results
        folder = Path(cache_dir) / "adapters" / f"exp-{key.method}-n{key.n}-s{key.seed}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 4}')
        state = self.weights(key.method, key.seed)
        if state is None:
            (folder / "adapter_model.safetensors").write_bytes(b"not safetensors at all")
        else:
            save_file(state, str(folder / "adapter_model.safetensors"))
        for r in results:
            r["artifacts"] = [{"kind": "adapter", "format": "peft", "path": str(folder), "bytes": 1, "sha256": ""}]
        return results


def _launch(client, task, monkeypatch, weights, seeds=2):
    runner = LoraWritingRunner(weights)
    monkeypatch.setattr("webapp.lab.services.lifecycle.load_runner", lambda: runner)
    resp = client.post("/experiments/new/", experiment_post(task, methods=["icl", "sft", "ia2-sft"], seeds=seeds))
    assert resp.status_code == 302, resp.context["form"].errors
    return Experiment.objects.get()


def _run_all(exp):
    for run in exp.runs.order_by("id"):
        assert run_job(run.pk) == Run.DONE, Run.objects.get(pk=run.pk).error


def test_each_pair_of_trained_methods_is_measured_once_and_averaged_over_seeds(client_in, task, no_engine_check,
                                                                               monkeypatch):
    exp = _launch(client_in, task, monkeypatch, lambda method, seed: lora_weights(SUBSPACES[(method, seed)]))
    _run_all(exp)
    rows = list(AdapterOverlap.objects.filter(experiment=exp).order_by("seed"))
    # one pair per seed (ICL trains nothing), in the page's method order
    assert [(o.seed, o.method_a, o.method_b) for o in rows] == [(0, "sft", "ia2-sft"), (1, "sft", "ia2-sft")]
    assert rows[0].mean == pytest.approx(0.5) and rows[1].mean == pytest.approx(1.0)
    assert all(o.random == pytest.approx(R / OUT) for o in rows)
    assert len(rows[0].per_module) == len(MODULES)
    assert all(v == pytest.approx(0.5) for v in rows[0].per_module.values())
    assert {rows[0].run_a.method, rows[0].run_b.method} == {"sft", "ia2-sft"}

    data = client_in.get(f"/experiments/{exp.pk}/results.json").json()
    (pair,) = data["adapter_overlap"]
    assert (pair["n"], pair["a"], pair["b"], pair["seeds"]) == (4, "sft", "ia2-sft", 2)
    assert pair["mean"] == pytest.approx(0.75) and pair["random"] == pytest.approx(R / OUT)
    assert sorted(seed for seed, _ in pair["points"]) == [0, 1]
    assert "1 = identical subspaces" in data["overlap_caption"] and "r / d" in data["overlap_caption"]
    # the page has the heatmap's place and its caption comes with the data
    page = client_in.get(f"/experiments/{exp.pk}/").content.decode()
    assert 'id="overlap-chart"' in page


def test_results_json_has_the_pair_when_the_second_run_says_done(client_in, task, no_engine_check, monkeypatch):
    # the page refreshes results.json when it hears "done": the pair is stored before that
    exp = _launch(client_in, task, monkeypatch, lambda method, seed: lora_weights(SUBSPACES[(method, seed)]),
                  seeds=1)
    sft, ia2 = exp.runs.get(method="sft"), exp.runs.get(method="ia2-sft")
    assert run_job(sft.pk) == Run.DONE
    assert client_in.get(f"/experiments/{exp.pk}/results.json").json()["adapter_overlap"] == []
    seen = []
    original = lifecycle.set_state

    def watch(run, state, *args, **kwargs):
        if state == Run.DONE:
            seen.append(AdapterOverlap.objects.filter(experiment=exp).count())
        return original(run, state, *args, **kwargs)

    monkeypatch.setattr(lifecycle, "set_state", watch)
    assert run_job(ia2.pk) == Run.DONE
    assert seen == [1]
    assert len(client_in.get(f"/experiments/{exp.pk}/results.json").json()["adapter_overlap"]) == 1


def test_a_partner_that_finishes_at_the_same_moment_is_measured_after_done(client_in, task, no_engine_check,
                                                                           monkeypatch):
    exp = _launch(client_in, task, monkeypatch, lambda method, seed: lora_weights(SUBSPACES[(method, seed)]),
                  seeds=1)
    sft, ia2 = exp.runs.get(method="sft"), exp.runs.get(method="ia2-sft")
    assert run_job(sft.pk) == Run.DONE
    # SFT is still finishing (not yet done) while IA2->SFT measures before its "done" ...
    Run.objects.filter(pk=sft.pk).update(state=Run.RUNNING)
    original = lifecycle.set_state

    def finish_sft_meanwhile(run, state, *args, **kwargs):
        if run.pk == ia2.pk and state == Run.DONE:
            assert not AdapterOverlap.objects.filter(experiment=exp).exists()
            Run.objects.filter(pk=sft.pk).update(state=Run.DONE)  # ... and turns done right then
        return original(run, state, *args, **kwargs)

    monkeypatch.setattr(lifecycle, "set_state", finish_sft_meanwhile)
    assert run_job(ia2.pk) == Run.DONE
    (pair,) = AdapterOverlap.objects.filter(experiment=exp)
    assert (pair.method_a, pair.method_b, pair.mean) == ("sft", "ia2-sft", pytest.approx(0.5))


def test_an_adapter_that_cannot_be_measured_is_skipped_and_the_run_stays_done(client_in, task, no_engine_check,
                                                                              monkeypatch, caplog):
    def weights(method, seed):
        if method == "ia2-sft" and seed == 0:
            return None  # unreadable file
        if method == "ia2-sft" and seed == 1:  # an (IA)^3 adapter: no lora_B, no subspace
            return {"base_model.model.model.layers.0.self_attn.q_proj.ia3_l.weight": torch.ones(OUT, 1)}
        return lora_weights([0, 1, 2, 3])

    exp = _launch(client_in, task, monkeypatch, weights)
    with caplog.at_level(logging.WARNING, logger="webapp.lab"):
        _run_all(exp)
    assert set(exp.runs.values_list("state", flat=True)) == {Run.DONE}
    assert not AdapterOverlap.objects.filter(experiment=exp).exists()
    skipped = [r.getMessage() for r in caplog.records if "adapter overlap" in r.getMessage()]
    assert len(skipped) == 2 and all("skipped" in m for m in skipped), skipped
    assert any("share no lora_B" in m for m in skipped)
    assert client_in.get(f"/experiments/{exp.pk}/results.json").json()["adapter_overlap"] == []


def test_a_retried_run_loses_its_pairs_until_it_is_done_again(client_in, task, no_engine_check, monkeypatch):
    exp = _launch(client_in, task, monkeypatch, lambda method, seed: lora_weights(SUBSPACES[(method, seed)]))
    _run_all(exp)
    sft0 = exp.runs.get(method="sft", seed=0)
    Run.objects.filter(pk=sft0.pk).update(state=Run.FAILED)
    sft0.refresh_from_db()
    assert lifecycle.retry_run(sft0, send=lambda ids: None)
    assert list(AdapterOverlap.objects.filter(experiment=exp).values_list("seed", flat=True)) == [1]
    assert run_job(sft0.pk) == Run.DONE
    assert sorted(AdapterOverlap.objects.filter(experiment=exp).values_list("seed", flat=True)) == [0, 1]


def test_the_web_process_measures_nothing_itself():
    # the overlap service loads the engine's torch code only inside measure_pair
    import ast
    import inspect

    from webapp.lab.services import overlaps

    tree = ast.parse(inspect.getsource(overlaps))
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any("engine" in (getattr(n, "module", "") or "") or any("torch" in a.name for a in n.names)
                   for n in top_level)
