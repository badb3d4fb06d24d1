"""Artifact files follow their rows (issue 22 item 2): deleting an experiment with a trained
adapter answers 302/204 (was a 500 from unlinking a folder), removes exactly the files nothing
else records (two experiments share one content-addressed adapter folder: it goes with the
last), and so does a retry discarding a partial attempt and a team deleted in the admin;
the periodic pass reports and removes unrecorded files older than the grace period. Real
files under a temporary MEDIA_ROOT, real Postgres."""
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from webapp.api.services import create_token
from webapp.lab.models import Artifact, Experiment, Run
from webapp.lab.services import artifacts, lifecycle, reaper
from webapp.teams.models import Team

from .conftest import make_task

pytestmark = pytest.mark.django_db(transaction=True)
ADAPTER = "cache/adapters/0123abcd-sft-n4-s0"  # as workers/engine/runner._save_adapter names it


def _media(rel):
    return Path(settings.MEDIA_ROOT) / rel


def _write_adapter(rel=ADAPTER):
    folder = _media(rel)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    return folder


def _finished(user, adapter=ADAPTER, state=Run.DONE, team=None):
    """An experiment with one run that stored results.json and an adapter folder."""
    exp = Experiment.objects.create(owner=user, team=team, train_task=make_task(user, name=f"t{time.time_ns()}"),
                                    methods=["sft"], n_values=[4])
    run = Run.objects.create(experiment=exp, method="sft", n=4, seed=0, state=state)
    results = f"runs/{exp.pk}/{run.pk}/results.json"
    _media(results).parent.mkdir(parents=True, exist_ok=True)
    _media(results).write_text("[]")
    _write_adapter(adapter)
    Artifact.objects.create(run=run, kind="results", path=results, sha256="r")
    Artifact.objects.create(run=run, kind=Artifact.ADAPTER, path=adapter, sha256="a")
    return exp, run


def _age(path, seconds):
    then = time.time() - seconds
    for p in [path, *(path.rglob("*") if path.is_dir() else [])]:
        os.utime(p, (then, then))


def test_two_experiments_share_an_adapter_folder_and_it_goes_with_the_last(user):
    first, _ = _finished(user)
    second, _ = _finished(user)
    client = Client()
    client.force_login(user)
    assert client.post(f"/experiments/{first.pk}/delete/").status_code == 302
    assert not Experiment.objects.filter(pk=first.pk).exists()
    assert not _media(f"runs/{first.pk}").exists()
    assert (_media(ADAPTER) / "adapter_model.safetensors").read_bytes() == b"weights"  # the second's
    token = create_token(user, "tests")[1]
    response = client.delete(f"/api/experiments/{second.pk}/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 204, response.content[:300]
    assert not _media(ADAPTER).exists() and not _media(f"runs/{second.pk}").exists()
    assert _media("runs").is_dir() and list(_media("runs").iterdir()) == []


def test_a_retry_discards_the_partial_attempts_files(user):
    exp, run = _finished(user, adapter="cache/adapters/feed-sft-n4-s0", state=Run.FAILED)
    other, _ = _finished(user)  # an unrelated adapter
    assert lifecycle.retry_run(run, send=lambda ids: None)
    assert not _media("cache/adapters/feed-sft-n4-s0").exists()
    assert not _media(f"runs/{exp.pk}/{run.pk}").exists()
    assert _media(ADAPTER).is_dir() and _media(f"runs/{other.pk}").is_dir()


def test_a_team_deleted_as_a_whole_takes_its_files(user):
    team = Team.objects.create(name="gone", created_by=user)
    exp, _ = _finished(user, team=team)
    team.delete()  # as the admin's delete does: a cascade through experiments, runs and artifacts
    assert not _media(ADAPTER).exists() and not _media(f"runs/{exp.pk}").exists()


def test_an_adapter_a_running_run_may_not_have_recorded_yet_is_left_for_the_sweep(user):
    exp, _ = _finished(user, adapter="cache/adapters/beef-sft-n4-s0")
    busy, _ = _finished(user, adapter="cache/adapters/other-sft-n4-s0")
    Run.objects.create(experiment=busy, method="sft", n=8, seed=0, state=Run.RUNNING,
                       started_at=timezone.now() - timedelta(minutes=5))
    client = Client()
    client.force_login(user)
    assert client.post(f"/experiments/{exp.pk}/delete/").status_code == 302
    assert _media("cache/adapters/beef-sft-n4-s0").is_dir()  # written after the running run started


def test_the_periodic_pass_removes_old_orphans_only(user, caplog, settings):
    settings.LAB_ARTIFACT_GRACE, settings.LAB_ARTIFACT_SWEEP_INTERVAL = 600, 1
    kept_exp, _ = _finished(user)                       # recorded: kept however old
    _age(_media(ADAPTER), 7200)
    old_adapter = _write_adapter("cache/adapters/dead-sft-n4-s0")
    _age(old_adapter, 7200)
    old_run = _media("runs/999/998/results.json")
    old_run.parent.mkdir(parents=True)
    old_run.write_text("[]")
    _age(old_run, 7200)
    recent = _write_adapter("cache/adapters/new-sft-n4-s0")  # within the grace period
    artifacts._last_sweep = None
    caplog.set_level(logging.WARNING, logger="webapp.lab")
    reaper.periodic_pass()
    assert not old_adapter.exists() and not _media("runs/999").exists()
    assert recent.is_dir() and _media(ADAPTER).is_dir() and _media(f"runs/{kept_exp.pk}").is_dir()
    reported = " ".join(r.getMessage() for r in caplog.records if "orphan artifact" in r.getMessage())
    assert "cache/adapters/dead-sft-n4-s0" in reported and "runs/999/998/results.json" in reported
    assert "new-sft" not in reported


def test_the_sweep_command_dry_run_reports_without_removing(user, settings):
    from io import StringIO

    from django.core.management import call_command

    orphan = _write_adapter("cache/adapters/dead-sft-n4-s0")
    _age(orphan, 7200)
    out = StringIO()
    call_command("sweep_artifacts", "--dry-run", "--grace=60", stdout=out)
    assert "cache/adapters/dead-sft-n4-s0" in out.getvalue() and "found 1 orphan" in out.getvalue()
    assert orphan.is_dir()
    call_command("sweep_artifacts", "--grace=60", stdout=StringIO())
    assert not orphan.exists()
