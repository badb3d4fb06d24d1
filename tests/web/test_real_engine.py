"""End to end with the real engine: form (real check_config) -> runs -> run_job ->
results JSON and history.json (checked against lab/progress_messages.py). Skipped only while
the engine runner or the embedded model is absent."""
import json

import pytest

from webapp.lab.models import Artifact, Experiment, Run

from .conftest import experiment_post


@pytest.mark.slow
@pytest.mark.django_db
def test_real_engine_run_end_to_end(client, user, settings):
    from django.core.management import call_command

    from webapp.lab.models import Task
    from webapp.lab.services.lifecycle import run_job

    call_command("load_builtin_tasks")
    task = Task.objects.filter(builtin=True, needs_hub=False, held_out=False).first()
    assert task is not None, "the engine ships at least one training task"
    client.force_login(user)
    resp = client.post("/experiments/new/", experiment_post(task, methods=["icl", "sft"], n_values="4",
                                                            eval_size=16))
    assert resp.status_code == 302, resp.context["form"].errors
    exp = Experiment.objects.get()
    for run in exp.runs.order_by("id"):
        assert run_job(run.pk) == Run.DONE, Run.objects.get(pk=run.pk).error
    results = client.get(f"/experiments/{exp.pk}/results.json").json()
    assert {r["method"] for r in results["summary"]} == {"icl", "sft"}
    assert all(0.0 <= r["accuracy"]["mean"] <= 1.0 for r in results["summary"])
    sft = exp.runs.get(method="sft")
    assert sft.points.exists() and sft.results.get().predictions.count() > 0
    assert Artifact.objects.filter(run=sft, kind="results").exists()
    # the real engine's adapter is offered as a zip of exactly the files it wrote
    import io
    import zipfile
    from pathlib import Path

    from django.conf import settings

    resp = client.get(f"/experiments/{exp.pk}/runs/{sft.pk}/adapter.zip")
    assert resp.status_code == 200, resp.content[:300]
    zf = zipfile.ZipFile(io.BytesIO(b"".join(resp.streaming_content)))
    on_disk = {}
    for artifact in Artifact.objects.filter(run=sft, kind="adapter"):
        root = Path(settings.MEDIA_ROOT) / artifact.path
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        on_disk.update({(p.name if root.is_file() else f"{root.name}/{p.relative_to(root)}"): p.read_bytes()
                        for p in files})
    assert on_disk and sorted(zf.namelist()) == sorted(on_disk)
    assert all(zf.read(name) == data for name, data in on_disk.items())
    # the page's history matches the message schema; what training chose is the engine's summary as returned
    from webapp.lab.progress_messages import validate

    history = client.get(f"/experiments/{exp.pk}/history.json").json()
    validate(history)
    returned = json.loads((Path(settings.MEDIA_ROOT) / Artifact.objects.get(run=sft, kind="results").path).read_text())
    assert sft.training == returned[0]["training_stages"] and sft.training[0]["trials"]
