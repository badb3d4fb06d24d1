"""A user retries a failed or cancelled run from the experiment page (POST, owner only):
it is queued again with a fresh attempt count, its partial rows are dropped, the outbox
sends it, and it then executes."""
import pytest

from webapp.lab.models import MetricPoint, Run
from webapp.lab.services import lifecycle
from webapp.lab.services.dispatch import pending

from .conftest import make_run, make_sft_experiment

pytestmark = pytest.mark.django_db


def _url(run):
    return f"/experiments/{run.experiment_id}/runs/{run.pk}/retry/"


@pytest.mark.parametrize("final", ["failed", "cancelled"])
def test_owner_retries_a_failed_or_cancelled_run(client_in, user, fake_runner, final):
    run = make_run(make_sft_experiment(user), state=final, attempts=2, error="boom", dispatched_at="2026-01-01T00:00Z",
                   worker="old:1")
    MetricPoint.objects.create(run=run, series="sft/loss", step=1, value=1.0)
    page = client_in.get(f"/experiments/{run.experiment_id}/").content.decode()
    assert f'action="{_url(run)}"' in page
    resp = client_in.post(_url(run))
    assert resp.status_code == 302
    run.refresh_from_db()
    assert run.state == "queued" and run.attempts == 0 and run.error == "" and not run.points.exists()
    assert list(pending()) == [run]  # in the outbox: sent after the commit
    assert run.events.filter(kind="state").last().message == f"queued: retried by the user (was {final})"
    assert lifecycle.run_job(run.pk) == Run.DONE and len(fake_runner.calls) == 1


def test_only_failed_or_cancelled_runs_are_retried(client_in, user, fake_runner):
    exp = make_sft_experiment(user)
    done = make_run(exp, state="done", attempts=1)
    queued = make_run(exp, seed=1)
    for run in (done, queued):
        resp = client_in.post(_url(run), follow=True)
        assert "only a failed or cancelled run can be retried" in resp.content.decode()
    assert Run.objects.get(pk=done.pk).state == "done" and Run.objects.get(pk=done.pk).attempts == 1


def test_retry_is_a_post_by_the_owner(client, client_in, user, other_user):
    run = make_run(make_sft_experiment(user), state="failed")
    assert client_in.get(_url(run)).status_code == 405
    client.force_login(other_user)
    assert client.post(_url(run)).status_code == 404
    assert Run.objects.get(pk=run.pk).state == "failed"
