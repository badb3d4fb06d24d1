"""Turn a validated experiment form into an Experiment + its Runs, and queue them.

All or nothing: the broker is checked before anything is written, and if queueing
still fails after the rows are committed, the experiment is deleted again and the
broker error propagates (the middleware shows the 503 "Redis unreachable" page).
"""
import logging

from django.db import transaction

from ..models import Experiment, Run
from . import dispatch

log = logging.getLogger("webapp.lab")


def launch(user, data, config, plan):
    """Create the experiment and one run per planned engine RunKey (the form planned them,
    once: `ExperimentForm.plan`), and queue them in one go. Each run stores its key, which
    the worker hands back to the engine."""
    queue = dispatch.queue_for(data["model_name"])
    dispatch.check_broker()
    with transaction.atomic():
        exp = Experiment.objects.create(
            owner=user, team=data.get("team"), name=data.get("name") or "", model_name=data["model_name"], train_task=data["train_task"],
            methods=data["methods"], n_values=data["n_values"], seeds=data["seeds"], icl_demos=data.get("icl_demos"),
            eval_size=data["eval_size"], adapter_type=data["adapter_type"], lora_r=data["lora_r"],
            lora_alpha=data["lora_alpha"], target_modules=data["target_modules"], config=config,
            warnings=list(data.get("warnings") or []),
        )
        exp.eval_tasks.set(data.get("eval_tasks") or [data["train_task"]])
        runs = Run.objects.bulk_create(Run.for_key(exp, key, queue=queue) for key in plan)
        if any(r.id is None for r in runs):
            runs = list(exp.runs.all())
        run_ids = [r.id for r in runs]
        transaction.on_commit(lambda: _enqueue_or_undo(exp.pk, run_ids))
    return exp


def _enqueue_or_undo(experiment_id, run_ids):
    try:
        dispatch.enqueue_now(run_ids)
    except Exception:
        log.warning("queueing experiment %s failed; deleting it again", experiment_id, exc_info=True)
        Experiment.objects.filter(pk=experiment_id).delete()
        raise
