"""What a run offers (cancel, retry, its adapter) is decided once, by the run
(`Run.can_cancel`, `can_retry`, `has_adapter`, from its state table and its artifacts), and
shipped in its snapshot. The runs table's buttons, the API's fields and what the actions
then do (services/run_actions, behind both the pages and the API) all agree with the
snapshot, for a run in each state."""
import re
from pathlib import Path

import pytest
from django.conf import settings

from webapp.lab.models import Artifact, Run
from webapp.lab.services.history import full_history

from .conftest import make_run, make_sft_experiment
from .test_api import Api

# state, method, with an adapter artifact -> (can_cancel, can_retry, has_adapter)
CASES = {
    "queued": ("queued", "sft", False, (True, False, False)),
    "running": ("running", "sft", False, (True, False, False)),
    "done with an adapter": ("done", "sft", True, (False, False, True)),
    "done without one": ("done", "sft", False, (False, False, False)),
    "failed": ("failed", "sft", True, (False, True, False)),
    "cancelled": ("cancelled", "sft", False, (False, True, False)),
}


@pytest.fixture
def api(user):
    return Api(user)


def _run(user, case):
    state, method, adapter, _ = CASES[case]
    exp = make_sft_experiment(user)
    run = make_run(exp, method, state=state, attempts=0 if state == "queued" else 1)
    if adapter:
        path = Path(settings.MEDIA_ROOT) / "runs" / str(exp.pk) / str(run.pk) / "adapter.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights")
        Artifact.objects.create(run=run, kind="adapter", path=str(path.relative_to(settings.MEDIA_ROOT)),
                                sha256="0" * 64, size=7)
    return exp, run


def _flags(snapshot):
    return snapshot["can_cancel"], snapshot["can_retry"], snapshot["has_adapter"]


def _row(html, run):
    return re.search(rf'<tr data-run="{run.pk}">(.*?)</tr>', html, re.S).group(1)


def _shown(row, field):
    tag = re.search(rf'<[^>]*data-f="{field}"[^>]*>', row).group(0)
    return " hidden" not in tag


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
def test_snapshot_flags_are_what_the_page_and_the_api_show(client_in, api, user, case):
    exp, run = _run(user, case)
    expected = CASES[case][3]
    snapshot = Run.objects.get(pk=run.pk).snapshot()
    assert _flags(snapshot) == expected and snapshot["final"] == (run.state in ("done", "failed", "cancelled"))
    # history.json and the live messages carry the same snapshot (a list: flags without a query per run)
    (listed,) = full_history(exp)["runs"]
    assert _flags(listed) == expected
    # the runs table: each button / link shown exactly when the snapshot offers it
    row = _row(client_in.get(f"/experiments/{exp.pk}/").content.decode(), run)
    assert (_shown(row, "cancel"), _shown(row, "retry"), _shown(row, "adapter")) == expected
    # the API: the same flags, and the adapter URL exactly when there is an adapter
    one = api.get(f"/experiments/{exp.pk}/runs/{run.pk}/").json()
    (many,) = api.get(f"/experiments/{exp.pk}/runs/").json()["items"]
    assert _flags(one) == _flags(many) == expected and one["final"] == snapshot["final"]
    assert (one["adapter"] is not None) == expected[2]


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("via", ["api", "page"])
def test_cancel_does_what_can_cancel_says(client_in, api, user, case, via):
    exp, run = _run(user, case)
    offered = Run.objects.get(pk=run.pk).can_cancel
    if via == "api":
        body = api("POST", f"/experiments/{exp.pk}/runs/{run.pk}/cancel/").json()
        assert body["changed"] is offered
    else:
        page = client_in.post(f"/experiments/{exp.pk}/runs/{run.pk}/cancel/", follow=True).content.decode()
        assert (f"Cancelling {run}." in page) is offered and (f"{run} has already finished." in page) is not offered
    assert Run.objects.get(pk=run.pk).cancel_requested is offered


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("via", ["api", "page"])
def test_retry_does_what_can_retry_says(client_in, api, user, case, via):
    exp, run = _run(user, case)
    offered = Run.objects.get(pk=run.pk).can_retry
    refusal = f"{run} is {run.state}: only a failed or cancelled run can be retried."
    if via == "api":
        resp = api("POST", f"/experiments/{exp.pk}/runs/{run.pk}/retry/")
        assert resp.status_code == (200 if offered else 409)
        assert resp.json()["detail"] == (
            f"Queued {run} again." if offered else refusal)
    else:
        page = client_in.post(f"/experiments/{exp.pk}/runs/{run.pk}/retry/", follow=True).content.decode()
        assert (f"Queued {run} again." in page) is offered and (refusal in page) is not offered
    assert (Run.objects.get(pk=run.pk).state == "queued") is (offered or run.state == "queued")


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES)
def test_the_adapter_downloads_exactly_when_has_adapter_says(client_in, api, user, case):
    exp, run = _run(user, case)
    offered = Run.objects.get(pk=run.pk).has_adapter
    assert client_in.get(f"/experiments/{exp.pk}/runs/{run.pk}/adapter.zip").status_code == (200 if offered else 404)
    assert api.get(f"/experiments/{exp.pk}/runs/{run.pk}/adapter.zip").status_code == (200 if offered else 404)


@pytest.mark.django_db
def test_cancel_all_cancels_what_can_be_cancelled(client_in, api, user):
    exp = make_sft_experiment(user)
    runs = {state: make_run(exp, "sft", seed=i, state=state) for i, state in enumerate(
        ["queued", "running", "done", "failed", "cancelled"])}
    body = api("POST", f"/experiments/{exp.pk}/cancel/").json()
    assert body["cancelling"] == 2 and body["detail"] == "Cancelling 2 run(s)."
    asked = {s for s, r in runs.items() if Run.objects.get(pk=r.pk).cancel_requested}
    assert asked == {"queued", "running"} == {s for s, r in runs.items() if r.can_cancel}
    assert Run.objects.get(pk=runs["queued"].pk).state == "cancelled"
