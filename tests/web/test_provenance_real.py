"""Provenance recorded by a real run of the embedded model (the engine in-process, as
tests/web/test_real_engine.py runs it): the weights' SHA-256 recomputed here from the file,
the dtype and device, the library and code versions, the template and labels, the digest
of the evaluation set it was scored on (recomputed from its stored predictions) and the
hyperparameters; the experiment page shows the weights digest; two real experiments that
differ in one setting get a provenance warning naming what differs and nothing else."""
import hashlib
from importlib import metadata

import pytest

from webapp.lab.models import Experiment, Run
from workers.engine.model_loading import EMBEDDED_DIR
from workers.engine.provenance import examples_hash

from .conftest import experiment_post


def _launch_and_run(client, task, **over):
    from webapp.lab.services.lifecycle import run_job

    before = set(Experiment.objects.values_list("pk", flat=True))
    resp = client.post("/experiments/new/", experiment_post(task, methods=["icl"], n_values="4", **over))
    assert resp.status_code == 302, resp.context["form"].errors
    exp = Experiment.objects.exclude(pk__in=before).get()
    run = exp.runs.get()
    assert run_job(run.pk) == Run.DONE, Run.objects.get(pk=run.pk).error
    run.refresh_from_db()
    return exp, run


@pytest.mark.slow
@pytest.mark.django_db
def test_a_real_run_records_its_provenance(client, user):
    from django.core.management import call_command

    from webapp.lab.models import Task

    call_command("load_builtin_tasks")
    task = Task.objects.get(name="animal-or-fruit")
    client.force_login(user)
    exp, run = _launch_and_run(client, task, eval_size=16, similarity_size=8)
    p = run.provenance
    weights = EMBEDDED_DIR / "model.safetensors"
    digest = hashlib.sha256(b"model.safetensors\0" + weights.read_bytes()).hexdigest()
    assert p["model"] == "embedded" and p["model_path"] == str(EMBEDDED_DIR) and p["model_revision"] is None
    assert p["weights_sha256"] == digest
    assert (p["dtype"], p["device"]) == ("float32", "cpu")
    assert {lib: p[lib] for lib in ("torch", "transformers", "peft")} == {
        lib: metadata.version(lib) for lib in ("torch", "transformers", "peft")}
    assert p["code_version"].startswith("git ")
    assert p["prompt_template"] == task.input_template and p["labels"] == task.labels
    result = run.results.get()
    scored = [{"input": x.input, "output": x.gold} for x in result.predictions.order_by("index")]
    assert len(scored) == 16 and p[f"eval_set_sha256[{task.name}]"] == examples_hash(scored)
    assert p["eval_size"] == 16 and p["similarity_size"] == 8 and p["training.lr"] == [0.001, 0.01, 0.03]
    for key in ("train_pool_sha256", "train_examples_sha256", "dev_examples_sha256", "demonstrations_sha256"):
        assert len(p[key]) == 64, key
    # "What was run" reads the task pools frozen at launch (stored by reference, resolved here)
    from webapp.lab.services import provenance

    described = provenance.describe(exp)["tasks"][0]
    assert described["n_pool"] == task.pool().count() > 0 and described["pool_sha256"] == examples_hash(
        [{"input": e.input, "output": e.output} for e in task.pool()])
    page = client.get(f"/experiments/{exp.pk}/").content.decode()
    identity = page[page.index('id="model-identity"'):]
    assert digest[:12] in identity[:400]

    # a second experiment with fewer evaluation queries: the warning names exactly what differs
    other, run2 = _launch_and_run(client, task, eval_size=12, similarity_size=8)
    assert run2.provenance["weights_sha256"] == digest
    page = client.get(f"/compare/?experiment={exp.pk}&experiment={other.pk}").content.decode()
    warning = page[page.index('id="provenance-diff"'):page.index('id="cmp-metrics"')]
    assert "<code>eval_size</code>" in warning and f"<code>eval_set_sha256[{task.name}]</code>" in warning
    for same in ("weights_sha256", "torch", "prompt_template", "training.lr", "model"):
        assert f"<code>{same}</code>" not in warning, same
