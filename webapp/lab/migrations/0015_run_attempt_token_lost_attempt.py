"""The run state machine's fence and dead-attempt marker: Run.attempt_token (a new token per
claim; a worker writes only while the row holds its token) and RunEvent.lost_attempt (the
number of the attempt a 'worker lost' state event records, instead of matching its text).
Existing events are marked from their message ("worker lost ... during attempt N of M")."""
import re

from django.db import migrations, models

LOST = re.compile(r"during attempt (\d+) of \d+")


def mark_lost_attempts(apps, schema_editor):
    RunEvent = apps.get_model("lab", "RunEvent")
    for ev in RunEvent.objects.filter(kind="state", message__contains="worker lost").only("id", "message"):
        found = LOST.search(ev.message)
        RunEvent.objects.filter(pk=ev.pk).update(lost_attempt=int(found.group(1)) if found else 0)


class Migration(migrations.Migration):

    dependencies = [
        ("lab", "0014_task_example_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="attempt_token",
            field=models.UUIDField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="runevent",
            name="lost_attempt",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(mark_lost_attempts, migrations.RunPython.noop),
    ]
