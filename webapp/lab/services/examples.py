"""Writes of a task's examples shared by the pages and the API: the label check of imported
rows and the all-or-nothing save (with the examples-per-task quota)."""
from django.db import transaction
from django.db.models import Max

from ..models import Example, Task
from .importers import ImportProblem
from .quotas import ensure_room_for_examples


def next_position(task):
    return (task.examples.aggregate(m=Max("position"))["m"] or 0) + 1


def check_labels(task, rows):
    """ImportProblem naming the first row whose output is not one of a classification task's labels."""
    if task.kind != Task.CLASSIFICATION or not task.labels:
        return
    for i, row in enumerate(rows, start=1):
        if row["output"].strip() not in task.labels:
            raise ImportProblem(f'Example {i}: output "{row["output"][:40]}" is not one of the task\'s labels '
                                f"({', '.join(task.labels)}).")


def save_rows(task, rows, split, replace):
    """Append `rows` ({"input", "output"}) to the split (or replace it) in one transaction;
    QuotaExceeded and nothing written when the task would hold too many examples."""
    with transaction.atomic():
        ensure_room_for_examples(task, len(rows), task.examples.filter(split=split).count() if replace else 0)
        if replace:
            task.examples.filter(split=split).delete()
        start = next_position(task)
        return Example.objects.bulk_create(
            Example(task=task, position=start + i, split=split, input=r["input"], output=r["output"].strip()
                    if task.kind == Task.CLASSIFICATION else r["output"])
            for i, r in enumerate(rows)
        )
