from django.db import migrations, models


def backfill_keys(apps, schema_editor):
    """Runs launched before the key was stored: their key is what the planner made then,
    (method, n, seed), so a queued one still executes."""
    Run = apps.get_model("lab", "Run")
    for run in Run.objects.filter(key={}).only("id", "method", "n", "seed").iterator():
        Run.objects.filter(pk=run.pk).update(key={"method": run.method, "n": run.n, "seed": run.seed})


class Migration(migrations.Migration):

    dependencies = [
        ("lab", "0002_run_attempts_worker_results_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="key",
            field=models.JSONField(default=dict),
        ),
        migrations.RunPython(backfill_keys, migrations.RunPython.noop),
    ]
