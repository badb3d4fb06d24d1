"""Indexes of the task page at 100,000 examples: its order (task, position, id), and on
Postgres trigram indexes for its case-insensitive search (`input__icontains`, which Django
writes as UPPER(col) LIKE UPPER(pattern)). The trigram part needs the pg_trgm extension;
where it cannot be created (no right to), the search still works, only slower."""
import logging

from django.db import DatabaseError, migrations, models, transaction

log = logging.getLogger("webapp.lab")

TRIGRAM = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS lab_example_input_trgm ON lab_example USING gin (UPPER(input) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS lab_example_output_trgm ON lab_example USING gin (UPPER(output) gin_trgm_ops)",
]


def add_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            for sql in TRIGRAM:
                schema_editor.execute(sql)
    except DatabaseError as exc:
        log.warning("no trigram index for the example search (%s); it works without, only slower", exc)


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS lab_example_input_trgm")
        schema_editor.execute("DROP INDEX IF EXISTS lab_example_output_trgm")


class Migration(migrations.Migration):

    dependencies = [
        ("lab", "0012_run_provenance"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="example",
            index=models.Index(fields=["task", "position", "id"], name="lab_example_task_order"),
        ),
        migrations.RunPython(add_trigram_indexes, drop_trigram_indexes),
    ]
