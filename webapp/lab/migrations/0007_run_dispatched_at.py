from django.db import migrations, models


def mark_sent(apps, schema_editor):
    """Runs that already left the queued state were sent; queued ones may never have been
    (the crash this outbox fixes), so they stay "to dispatch" and the sweep sends them
    (a run sent twice still executes once: the worker's claim refuses a non-queued run)."""
    Run = apps.get_model("lab", "Run")
    Run.objects.exclude(state="queued").update(dispatched_at=models.F("queued_at"))


class Migration(migrations.Migration):

    dependencies = [
        ("lab", "0006_run_overall_progress_training"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="dispatched_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="run",
            index=models.Index(fields=["state", "dispatched_at"], name="lab_run_outbox"),
        ),
        migrations.RunPython(mark_sent, migrations.RunPython.noop),
    ]
