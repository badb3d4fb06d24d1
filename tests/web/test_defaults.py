"""One source for each rule: the engine's torch-free config. The web form, the model
defaults, the method list and labels, the answer parsers and the README's config table
agree with it; the spread over seeds is one convention (sample sd, ddof=1) in the browser
and the CLI, exercised with more than one value."""
import re
import statistics
from pathlib import Path

import pytest

from webapp.lab.experiment_form import ExperimentForm
from webapp.lab.models import METHOD_CHOICES, Experiment, Task
from workers.engine import config as engine_config
from workers.engine.training_settings import AdapterSettings, TrainingSettings

ROOT = Path(__file__).resolve().parents[2]


def _engine():
    cfg = engine_config.parse_config({"task": "x"})
    real = engine_config.parse_config({"task": "x", "model": "some/hub-model"})
    return cfg, real


def test_engine_defaults_reach_the_form_and_the_model():
    cfg, _ = _engine()
    form = ExperimentForm(user=None)
    assert form.fields["eval_size"].initial == cfg.eval_size == Experiment._meta.get_field("eval_size").default
    assert list(form.fields["methods"].initial) == cfg.methods
    assert str(cfg.similarity_size) in form.fields["similarity_size"].help_text
    assert form.fields["lora_r"].initial == cfg.adapter.r == Experiment._meta.get_field("lora_r").default
    assert form.fields["lora_alpha"].initial == cfg.adapter.alpha == Experiment._meta.get_field("lora_alpha").default
    assert form.fields["target_modules"].initial.split(",") == cfg.adapter.target_modules
    assert form.fields["adapter_type"].initial == cfg.adapter.type == Experiment._meta.get_field("adapter_type").default


def test_methods_and_labels_are_the_engines():
    assert [m for m, _ in METHOD_CHOICES] == list(engine_config.METHODS)
    assert dict(METHOD_CHOICES) == {m: engine_config.METHOD_TITLES[m] for m in engine_config.METHODS}


def test_answer_parsers_are_the_engines():
    from workers.engine.metrics import ANSWER_PARSERS
    from workers.engine.tasks import PARSERS

    choices = [p for p, _ in Task._meta.get_field("answer_parser").choices]
    assert choices == list(PARSERS) and set(choices) == set(ANSWER_PARSERS)


def _readme_defaults():
    """{key: default cell} of the README's 'Config keys' table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("### Config keys", 1)[1].split("\n\n", 2)[1]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 2 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def _numbers(cell):
    return [float(x) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?", cell)]


def test_readme_config_table_matches_the_engine():
    cfg, real = _engine()
    rows = _readme_defaults()
    assert rows, "the README's config table was not found"
    for key in ("eval_size", "similarity_size", "eval_batch_size", "max_new_tokens"):
        assert _numbers(rows[key]) == [getattr(cfg, key)], key
    assert re.findall(r"[\w+-]+", rows["methods"].strip("`[]")) == cfg.methods
    assert _numbers(rows["n"]) == cfg.n and _numbers(rows["seeds"]) == [len(cfg.seeds)]
    adapter = rows["adapter"]
    assert f"r: {cfg.adapter.r}" in adapter and f"alpha: {int(cfg.adapter.alpha)}" in adapter
    assert f"target_modules: [{', '.join(cfg.adapter.target_modules)}]" in adapter
    training = rows["training"]
    paper, embedded = re.findall(r"\[([^\]]+)\]", training)[:2]
    assert [float(x) for x in paper.split(",")] == real.training.lr == engine_config.PAPER_LR_GRID
    assert [float(x) for x in embedded.split(",")] == cfg.training.lr == engine_config.EMBEDDED_LR_GRID
    t = TrainingSettings()
    for name in ("max_epochs", "patience", "batch_size", "micro_batch_size", "joint_weight", "soft_top_k"):
        assert re.search(rf"{name}: {re.escape(str(getattr(t, name)))}\b", training), name


def test_engine_config_docstring_matches_the_engine():
    cfg, _ = _engine()
    doc = engine_config.__doc__
    assert f"eval_size        evaluation queries per evaluation task ({cfg.eval_size})" in doc
    assert f"({cfg.similarity_size})" in doc and f"soft_top_k: {TrainingSettings().soft_top_k}" in doc
    assert f"r: {AdapterSettings().r}" in doc


@pytest.mark.django_db
def test_spread_over_seeds_is_the_sample_sd_in_browser_and_cli(user):
    """Three seeds with different accuracies: the browser's summary and the CLI's aggregate
    give the same ± (statistics.stdev, ddof=1), and the payload says which convention."""
    from webapp.lab.models import EvalResult, Run
    from webapp.lab.services.experiment_summary import compare
    from workers.engine.runner import aggregate

    from .conftest import make_task

    accs = [0.5, 0.75, 0.625]
    exp = Experiment.objects.create(owner=user, train_task=make_task(user), methods=["sft"], n_values=[4])
    for seed, acc in enumerate(accs):
        run = Run.objects.create(experiment=exp, method="sft", n=4, seed=seed, state="done")
        EvalResult.objects.create(run=run, eval_task_name="t", accuracy=acc)
    web = compare(exp)
    (row,) = web["summary"]
    cli = aggregate([{"method": "sft", "n": 4, "eval_task": "t", "accuracy": a} for a in accs])[0]
    assert row["accuracy"]["std"] == pytest.approx(statistics.stdev(accs)) == pytest.approx(cli["accuracy"]["std"])
    assert row["accuracy"]["std"] != pytest.approx(statistics.pstdev(accs))
    assert row["accuracy"]["mean"] == pytest.approx(cli["accuracy"]["mean"]) == pytest.approx(0.625)
    assert "ddof=1" in web["spread"]


def test_cli_summary_table_states_the_convention():
    from workers.engine.display import summary_table

    text = summary_table([{"method": "sft", "n": 4, "eval_task": "t", "seeds": 2,
                           "accuracy": {"mean": 0.5, "std": 0.1}}])
    assert "sample sd (ddof=1)" in text and "0.500±0.100" in text
