"""Turn a validated experiment form into an Experiment + its Runs, and queue them.

The broker is checked before anything is written (Redis down: 503, nothing stored). The
runs are written "to dispatch" in the same transaction as the experiment (the outbox,
`services/dispatch.py`) and sent once it commits; if this process dies or the broker goes
away between commit and send, the periodic sweep sends what is left.
"""
from django.db import transaction

from ..models import Experiment, Run
from . import dispatch, snapshots


def already_submitted(user, submit_key):
    """The experiment a form with this idempotency key already created, or None."""
    if not submit_key:
        return None
    return Experiment.objects.filter(owner=user, submit_key=submit_key).first()


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
            lora_alpha=data["lora_alpha"], target_modules=data["target_modules"],
            config=snapshots.by_reference(config),  # the pools stored once, by hash
            submit_key=data.get("submit_key") or "",
            warnings=list(data.get("warnings") or []),
        )
        exp.eval_tasks.set(data.get("eval_tasks") or [data["train_task"]])
        runs = Run.objects.bulk_create(Run.for_key(exp, key, queue=queue) for key in plan)
        if any(r.id is None for r in runs):
            runs = list(exp.runs.all())
        dispatch.send_on_commit(r.id for r in runs)
    return exp
