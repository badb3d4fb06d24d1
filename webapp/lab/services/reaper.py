"""Mark runs whose worker stopped sending heartbeats as failed."""
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..models import Run
from .events import set_state


def reap_stale_runs(timeout=None, now=None):
    """Fail 'running' runs whose heartbeat is older than `timeout` seconds; return them."""
    timeout = settings.LAB_HEARTBEAT_TIMEOUT if timeout is None else timeout
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=timeout)
    stale = list(Run.objects.filter(state=Run.RUNNING, heartbeat_at__lt=cutoff)) + list(
        Run.objects.filter(state=Run.RUNNING, heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    reaped = []
    for run in stale:
        # only the first reaper to flip the row reports it
        if Run.objects.filter(id=run.id, state=Run.RUNNING).update(state=Run.FAILED) != 1:
            continue
        reason = f"worker lost (no heartbeat for {timeout} s)"
        set_state(run, Run.FAILED, message=reason, error=reason)
        reaped.append(run)
    return reaped
