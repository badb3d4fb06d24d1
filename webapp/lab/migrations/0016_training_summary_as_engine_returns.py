"""Runs stored before the engine reported what training chose kept a summary the web
re-derived from the loss history ({"chosen_trial", "epochs", ...}). Rewrite those into the
engine's shape (`workers/engine/training.StageResult.summary`) so the runs table and the
charts read one shape. The step of the best epoch was never stored for them: it stays
unknown (None) rather than guessed, and the chart then marks no best point."""
from django.db import migrations


def _trial(old, trial_key):
    return {"trial": old.get(trial_key, 0), "lr": old.get("lr"), "best_dev_loss": old.get("best_dev_loss"),
            "best_epoch": old.get("best_epoch", 0), "best_step": None, "epochs_run": old.get("epochs", 0)}


def _stage(old):
    if not isinstance(old, dict) or "chosen_trial" not in old:
        return old  # already the engine's shape
    return {"stage": old.get("stage", ""), **_trial(old, "chosen_trial"), "improved": bool(old.get("best_epoch")),
            "reused": False, "trials": [_trial(t, "trial") for t in old.get("trials") or []]}


def forwards(apps, schema_editor):
    Run = apps.get_model("lab", "Run")
    for run in Run.objects.exclude(training=[]).only("id", "training").iterator():
        new = [_stage(s) for s in run.training or []]
        if new != run.training:
            Run.objects.filter(pk=run.pk).update(training=new)


class Migration(migrations.Migration):
    dependencies = [("lab", "0015_run_attempt_token_lost_attempt")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
