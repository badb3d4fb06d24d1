"""Run quotas (services/quotas.py, settings LAB_MAX_RUNS_PER_EXPERIMENT and
LAB_MAX_QUEUED_RUNS_PER_USER): a launch past either is refused with a message that names the
field and the limit, and nothing is stored."""
import pytest

from webapp.lab.models import Experiment, Run

from .conftest import experiment_post, make_run, make_sft_experiment, make_task

pytestmark = pytest.mark.django_db


def _errors(resp):
    form = resp.context["form"]
    return {field: " ".join(errs) for field, errs in form.errors.items()}


def test_runs_per_experiment_default_refuses_the_9600_run_post(client_in, user, no_engine_check):
    """The adversary's single POST: 8 methods x 60 N values x 20 seeds = 9,600 runs."""
    from workers.engine.config import METHODS

    task = make_task(user, name="big", n=200)
    before = Run.objects.count()
    resp = client_in.post("/experiments/new/", experiment_post(
        task, methods=list(METHODS), n_values=",".join(str(n) for n in range(1, 61)), seeds=20))
    assert resp.status_code == 200
    message = _errors(resp)["n_values"]
    assert "9,600 runs" in message and "at most 500 runs" in message and "LAB_MAX_RUNS_PER_EXPERIMENT" in message
    assert not Experiment.objects.exists() and Run.objects.count() == before


def test_runs_per_experiment_limit_is_a_setting(client_in, user, no_engine_check, settings):
    settings.LAB_MAX_RUNS_PER_EXPERIMENT = 3
    task = make_task(user, name="big", n=200)
    resp = client_in.post("/experiments/new/", experiment_post(task, methods=["icl", "sft"], n_values="4,8"))
    assert "4 runs" in _errors(resp)["n_values"] and "at most 3 runs" in _errors(resp)["n_values"]
    resp = client_in.post("/experiments/new/", experiment_post(task, methods=["icl", "sft"], n_values="4"))
    assert resp.status_code == 302


def test_queued_runs_per_user(client_in, user, no_engine_check, settings):
    settings.LAB_MAX_QUEUED_RUNS_PER_USER = 3
    exp = make_sft_experiment(user)
    make_run(exp, seed=0)
    make_run(exp, seed=1, state="running")
    make_run(exp, seed=2, state="done")  # finished runs do not count
    resp = client_in.post("/experiments/new/", experiment_post(exp.train_task))  # 2 more runs: 4 > 3
    message = " ".join(resp.context["form"].non_field_errors())
    assert "at most 3 runs queued or running" in message and "you have 2" in message
    assert "LAB_MAX_QUEUED_RUNS_PER_USER" in message
    assert Experiment.objects.count() == 1
    # a retry counts too
    failed = make_run(exp, seed=3, state="failed")
    settings.LAB_MAX_QUEUED_RUNS_PER_USER = 2
    resp = client_in.post(f"/experiments/{exp.pk}/runs/{failed.pk}/retry/", follow=True)
    assert "at most 2 runs queued or running" in resp.content.decode()
    assert Run.objects.get(pk=failed.pk).state == "failed"
