"""Limits a shared server keeps, each with a message that says what to do."""
from django.conf import settings


class QuotaExceeded(ValueError):
    """A write would pass a configured limit; nothing was written."""


def ensure_room_for_examples(task, adding, replacing=0):
    """Refuse a write that would leave `task` with more than LAB_MAX_EXAMPLES_PER_TASK examples."""
    limit = settings.LAB_MAX_EXAMPLES_PER_TASK
    total = task.examples.count() - replacing + adding
    if total > limit:
        raise QuotaExceeded(f"A task holds at most {limit:,} examples; this would make {total:,}. "
                            "Import fewer rows, replace the existing ones, or split the task.")
