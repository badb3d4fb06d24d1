"""Each finished run's adapter is offered as a download: a zip of the files of its stored
adapter artifacts, whatever the engine wrote (a single weights file, or a folder as peft's
save_pretrained writes it), byte for byte; runs without an adapter get a 404 that says why."""
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from webapp.lab.models import Artifact, Experiment
from webapp.lab.services.lifecycle import run_job

from .conftest import FakeRunner, experiment_post


class AdapterWritingRunner(FakeRunner):
    """The fake engine, writing an adapter the way `layout` says and reporting it as an artifact."""

    def __init__(self, layout):
        super().__init__(steps=3)
        self.layout = layout

    def execute_run(self, config, key, on_progress=None, should_cancel=None, cache_dir=None):
        results = super().execute_run(config, key, on_progress, should_cancel, cache_dir)
        if key.method == "icl":
            return results
        root = Path(cache_dir) / "adapters" / f"{key.method}-n{key.n}-s{key.seed}"
        if self.layout == "file":
            path = root.with_suffix(".safetensors")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"weights of " + key.method.encode() * 100)
            artifact = {"kind": "adapter", "path": str(path), "bytes": path.stat().st_size,
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        else:
            (root / "nested").mkdir(parents=True, exist_ok=True)
            (root / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 8}')
            (root / "adapter_model.safetensors").write_bytes(bytes(range(256)) * 40)
            (root / "nested" / "extra.txt").write_text("anything else the engine wrote")
            artifact = {"kind": "adapter", "path": str(root), "bytes": 0, "sha256": ""}
        for r in results:
            r["artifacts"] = [artifact]
        return results


def _launch_and_run(client, task, monkeypatch, layout):
    runner = AdapterWritingRunner(layout)
    monkeypatch.setattr("webapp.lab.services.lifecycle.load_runner", lambda: runner)
    client.post("/experiments/new/", experiment_post(task, methods=["icl", "sft"]))
    exp = Experiment.objects.get()
    for run in exp.runs.order_by("id"):
        assert run_job(run.pk) == "done"
    return exp


def _zip(resp):
    assert resp.status_code == 200 and resp["Content-Type"] == "application/zip"
    assert "attachment" in resp["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(b"".join(resp.streaming_content)))


@pytest.mark.django_db
@pytest.mark.parametrize("layout", ["file", "folder"])
def test_done_run_offers_its_adapter_files(client_in, task, no_engine_check, monkeypatch, settings, layout):
    exp = _launch_and_run(client_in, task, monkeypatch, layout)
    sft = exp.runs.get(method="sft")
    url = f"/experiments/{exp.pk}/runs/{sft.pk}/adapter.zip"
    assert url in client_in.get(f"/experiments/{exp.pk}/").content.decode()  # offered on the page
    zf = _zip(client_in.get(url))
    (artifact,) = Artifact.objects.filter(run=sft, kind="adapter")
    stored = Path(settings.MEDIA_ROOT) / artifact.path
    if layout == "file":
        assert zf.namelist() == [stored.name]
        assert hashlib.sha256(zf.read(stored.name)).hexdigest() == artifact.sha256
    else:
        on_disk = {f"{stored.name}/{p.relative_to(stored)}": p.read_bytes() for p in stored.rglob("*") if p.is_file()}
        assert sorted(zf.namelist()) == sorted(on_disk) and len(on_disk) == 3
        assert all(zf.read(name) == data for name, data in on_disk.items())


@pytest.mark.django_db
def test_runs_without_an_adapter_say_why(client_in, task, no_engine_check, monkeypatch, other_user):
    exp = _launch_and_run(client_in, task, monkeypatch, "file")
    icl = exp.runs.get(method="icl")
    resp = client_in.get(f"/experiments/{exp.pk}/runs/{icl.pk}/adapter.zip")
    assert resp.status_code == 404 and "trained no adapter" in resp.content.decode()
    sft = exp.runs.get(method="sft")
    Artifact.objects.filter(run=sft, kind="adapter").update(path="../../etc/passwd")
    resp = client_in.get(f"/experiments/{exp.pk}/runs/{sft.pk}/adapter.zip")
    assert resp.status_code == 404 and "outside the media folder" in resp.content.decode()
    exp.runs.filter(pk=sft.pk).update(state="running")
    resp = client_in.get(f"/experiments/{exp.pk}/runs/{sft.pk}/adapter.zip")
    assert resp.status_code == 404 and "once the run is done" in resp.content.decode()
    client_in.force_login(other_user)
    assert client_in.get(f"/experiments/{exp.pk}/runs/{sft.pk}/adapter.zip").status_code == 404
