"""Turn a validated experiment form into an Experiment + its Runs, and queue them."""
from django.db import transaction

from ..models import Experiment, Run
from . import dispatch


def launch(user, data, config, plan=None):
    """Plan first (nothing is created if planning fails), then create and queue in one go."""
    if plan is None:
        from workers.celery_tasks import plan_runs

        plan = plan_runs(config)
    queue = dispatch.queue_for(data["model_name"])
    with transaction.atomic():
        exp = Experiment.objects.create(
            owner=user, name=data.get("name") or "", model_name=data["model_name"], train_task=data["train_task"],
            methods=data["methods"], n_values=data["n_values"], seeds=data["seeds"], icl_demos=data.get("icl_demos"),
            eval_size=data["eval_size"], adapter_type=data["adapter_type"], lora_r=data["lora_r"],
            lora_alpha=data["lora_alpha"], target_modules=data["target_modules"], config=config,
        )
        exp.eval_tasks.set(data.get("eval_tasks") or [data["train_task"]])
        runs = Run.objects.bulk_create(Run(experiment=exp, method=m, n=n, seed=s, queue=queue) for m, n, s in plan)
        if any(r.id is None for r in runs):
            runs = list(exp.runs.all())
        dispatch.enqueue([r.id for r in runs])
    return exp
