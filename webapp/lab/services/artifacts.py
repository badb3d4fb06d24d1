"""Artifact files on disk, counted by their rows. A file or folder under MEDIA_ROOT stays
while an Artifact row names it; once the last row naming it is deleted and that deletion
commits, it goes (`release`, called by the receiver on Artifact's post_delete, so every
path that deletes rows frees their files: an experiment's delete, a retry discarding a
partial attempt, a team or user deleted in the admin). Two experiments with the same
configuration share one content-addressed adapter folder (`workers/engine/runner.
_save_adapter`): it goes with the last row naming it, not with the first.

A file last written after a running run started may be that run's, written but not yet
recorded (the adapter is saved before `results.store_results` records it): it is left for
`sweep`, the periodic pass's report and removal of unrecorded files older than
LAB_ARTIFACT_GRACE seconds under runs/ and cache/adapters/ (`manage.py sweep_artifacts`)."""
import logging
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from ..models import Artifact, Run

log = logging.getLogger("webapp.lab")
SWEPT = ("runs", "cache/adapters")  # the folders whose files are artifacts (the rest of cache/ is a cache)


def _media():
    return Path(settings.MEDIA_ROOT).resolve()


def _inside(path):
    """The artifact path (relative to MEDIA_ROOT, or absolute) as a Path strictly inside MEDIA_ROOT, else None."""
    media = _media()
    full = (media / path).resolve()
    return full if media in full.parents else None


def _newest_mtime(full):
    times = [full.stat().st_mtime]
    if full.is_dir():
        times += [f.stat().st_mtime for f in full.rglob("*")]
    return max(times)


def _maybe_unrecorded(mtime):
    """Could a running run have written this and not recorded it yet?"""
    written = datetime.fromtimestamp(mtime, tz=timezone.utc)
    return Run.objects.filter(state=Run.RUNNING, started_at__lte=written).exists()


def _remove(full):
    """Remove a file or folder, then its parents left empty, up to the swept folders."""
    if full.is_dir() and not full.is_symlink():
        shutil.rmtree(full, ignore_errors=True)
    else:
        full.unlink(missing_ok=True)
    media = _media()
    stops = {media, *(media / s for s in SWEPT)}
    parent = full.parent
    while parent not in stops and media in parent.parents:
        try:
            parent.rmdir()
        except OSError:  # not empty
            break
        parent = parent.parent


def remove_unreferenced(paths):
    """Remove each path that no Artifact row names (and no running run may have just written).
    Returns the removed paths."""
    removed = []
    for path in dict.fromkeys(paths):
        full = _inside(path)
        if full is None or not full.exists() or Artifact.objects.filter(path=path).exists():
            continue
        if _maybe_unrecorded(_newest_mtime(full)):
            log.info("artifact %s is newer than a running run's start: left for the sweep", path)
            continue
        _remove(full)
        removed.append(path)
    return removed


def release(paths):
    """Once the current transaction commits, remove those of `paths` nothing names any more."""
    paths = list(paths)
    transaction.on_commit(lambda: remove_unreferenced(paths))


@receiver(post_delete, sender=Artifact)
def _files_follow_their_rows(sender, instance, **kwargs):
    release([instance.path])


# --- the sweep ----------------------------------------------------------------------

def _candidates(media):
    """runs/: every file; cache/adapters/: each entry (an adapter is a folder)."""
    runs = media / "runs"
    if runs.is_dir():
        yield from (f for f in runs.rglob("*") if f.is_file() or f.is_symlink())
    adapters = media / "cache" / "adapters"
    if adapters.is_dir():
        yield from adapters.iterdir()


def orphans(grace):
    """[(path relative to MEDIA_ROOT, bytes)] of the files and folders no Artifact row names
    (nor a folder above them), last written more than `grace` seconds ago."""
    media, cutoff = _media(), time.time() - grace
    named = set(Artifact.objects.values_list("path", flat=True))
    found = []
    for full in _candidates(media):
        rel = full.relative_to(media)
        if str(rel) in named or any(str(p) in named for p in rel.parents):
            continue
        mtime = _newest_mtime(full)
        if mtime > cutoff or _maybe_unrecorded(mtime):
            continue
        size = sum(f.stat().st_size for f in full.rglob("*") if f.is_file()) if full.is_dir() else full.stat().st_size
        found.append((str(rel), size))
    return found


def sweep(grace=None, dry_run=False):
    """Report (a warning each) and, unless `dry_run`, remove the orphans older than the grace
    period (LAB_ARTIFACT_GRACE by default). Returns [(path, bytes)]."""
    found = orphans(settings.LAB_ARTIFACT_GRACE if grace is None else grace)
    for rel, size in found:
        log.warning("orphan artifact %s (%s bytes), recorded by no run%s", rel, size, "" if dry_run else ": removed")
        if not dry_run:
            _remove(_media() / rel)
    return found


_last_sweep = None


def sweep_if_due():
    """The periodic pass's sweep, at most every LAB_ARTIFACT_SWEEP_INTERVAL seconds per
    process (it walks the media folders); a failure is logged and retried next time."""
    global _last_sweep
    now = time.monotonic()
    every = settings.LAB_ARTIFACT_SWEEP_INTERVAL
    if every <= 0 or (_last_sweep is not None and now - _last_sweep < every):
        return None
    _last_sweep = now
    try:
        return sweep()
    except Exception:  # noqa: BLE001 - e.g. the media folder is unreachable; the next pass retries
        log.warning("artifact sweep failed", exc_info=True)
        return None
