"""Stored example counts and an examples version on Task (kept by Example's save/delete and
queryset, models.Task.examples_changed), filled here from the examples already stored."""
from django.db import migrations, models
from django.db.models import Count


def fill(apps, schema_editor):
    Task = apps.get_model("lab", "Task")
    Example = apps.get_model("lab", "Example")
    counts = {}
    for task_id, split, c in (Example.objects.order_by().values_list("task_id", "split").annotate(c=Count("id"))):
        counts[task_id, split] = c
    for pk in Task.objects.values_list("pk", flat=True):
        Task.objects.filter(pk=pk).update(n_pool=counts.get((pk, "pool"), 0), n_eval=counts.get((pk, "eval"), 0))


class Migration(migrations.Migration):
    dependencies = [("lab", "0013_example_page_indexes")]

    operations = [
        migrations.AddField("task", "n_pool", models.PositiveIntegerField(default=0, editable=False)),
        migrations.AddField("task", "n_eval", models.PositiveIntegerField(default=0, editable=False)),
        migrations.AddField("task", "examples_version", models.PositiveIntegerField(default=0, editable=False)),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
