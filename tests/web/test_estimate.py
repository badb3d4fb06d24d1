"""The cost estimate before launch: 'Validate and estimate the time' validates the form,
launches nothing and shows the estimated wall time and what it rests on; the measured
speeds say SmolLM2 takes minutes where the toy takes seconds; finished runs' recorded
timings replace the measured figure once there are some."""
from webapp.lab.models import Experiment, Run, EvalResult

from .conftest import experiment_post
from .test_unreadable import english  # noqa: F401 - the English review task fixture


def _estimate(client, task, **over):
    response = client.post("/experiments/new/", {**experiment_post(task, methods=["icl", "sft"], **over),
                                                  "estimate": "1"})
    assert response.status_code == 200 and "estimate" in response.context, response.context["form"].errors
    assert not Experiment.objects.exists()
    return response.context["estimate"], response.content.decode()


def test_estimate_shows_before_launch_and_says_what_it_rests_on(client_in, english):  # noqa: F811
    toy, page = _estimate(client_in, english)
    assert "Estimated wall time" in page and "tokens/s" in page and "bench/throughput.py" in page
    smol, _ = _estimate(client_in, english, model_name="smollm2-135m")
    assert 0 < toy["low_s"] <= toy["high_s"] < 600
    assert smol["low_s"] > 10 * toy["low_s"] and smol["high_s"] > 60  # minutes, not seconds
    bigger, _ = _estimate(client_in, english, model_name="smollm2-135m", n_values="2,4")
    assert bigger["low_s"] > smol["low_s"]


def test_unknown_model_speed_is_said(client_in, english, monkeypatch):  # noqa: F811
    monkeypatch.setattr("webapp.lab.services.estimate.MEASURED", {})
    result, page = _estimate(client_in, english)
    assert "low_s" not in result and "no measured speed" in page


def test_finished_runs_refine_the_estimate(client_in, user, english):  # noqa: F811
    exp = Experiment.objects.create(owner=user, team=english.team, model_name="embedded", train_task=english)
    for method, seconds in (("icl", 3.0), ("sft", 40.0), ("sft", 60.0)):
        run = Run.objects.create(experiment=exp, method=method, n=4, seed=0, state=Run.DONE, queue="cpu")
        EvalResult.objects.create(run=run, eval_task_name="reviews", timings={"load": 1.0, "eval": seconds - 1.0})
    response = client_in.post("/experiments/new/", {**experiment_post(english, methods=["icl", "sft"]),
                                                    "estimate": "1"})
    result = response.context["estimate"]
    assert result["low_s"] == result["high_s"] == 3.0 + 50.0  # the medians of icl and sft
    assert "finished runs" in result["basis"]
