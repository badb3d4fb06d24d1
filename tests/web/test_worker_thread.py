"""Embedded mode: the in-process worker thread executes queued runs through run_job."""
import pytest

from webapp.lab.models import Experiment
from webapp.lab.services import embedded_worker

from .conftest import experiment_post
from .live import wait_for


@pytest.mark.django_db(transaction=True)
def test_thread_executes_launched_runs(client_in, task, no_engine_check, fake_runner, settings):
    settings.LAB_EXECUTOR = "thread"
    try:
        resp = client_in.post("/experiments/new/", experiment_post(task, methods=["icl", "sft"]))
        assert resp.status_code == 302
        exp = Experiment.objects.get()
        wait_for(lambda: set(exp.runs.values_list("state", flat=True)) == {"done"}, 20, interval=0.05,
                 what="the worker thread to run both runs")
        assert exp.runs.get(method="sft").results.get().accuracy == 0.75
    finally:
        embedded_worker.stop()
