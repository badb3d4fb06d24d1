"""A finished run's adapter as a download: a zip of every file of the run's stored adapter
artifacts, whatever the engine wrote (one weights file, or a folder such as peft's
`save_pretrained` output: `adapter_config.json` + weights), so it can be used outside the app."""
import logging
import tempfile
import zipfile
from pathlib import Path

from django.conf import settings

from ..models import Artifact, Run

log = logging.getLogger("webapp.lab")
ADAPTER_KIND = Artifact.ADAPTER


class NoAdapter(Exception):
    """The run has no adapter to download; the message says why."""


def _resolve(path):
    """An artifact path (relative to MEDIA_ROOT, or absolute) as a Path inside MEDIA_ROOT."""
    media = Path(settings.MEDIA_ROOT).resolve()
    full = (media / path).resolve()
    if full != media and media not in full.parents:
        raise NoAdapter(f"the adapter file {path} is outside the media folder; it is not served")
    return full


def adapter_root(run):
    """The path (inside MEDIA_ROOT) of the run's first adapter artifact, whatever the run's
    state, or None when it stored none; NoAdapter when the path is outside the media folder."""
    artifact = run.artifacts.filter(kind=ADAPTER_KIND).order_by("id").first()
    return None if artifact is None else _resolve(artifact.path)


def adapter_files(run):
    """[(name in the zip, file path)] of the run's adapter artifacts; NoAdapter when there is none."""
    if run.state != Run.DONE:
        raise NoAdapter(f"{run} is {run.state}: an adapter can be downloaded once the run is done")
    artifacts = list(run.artifacts.filter(kind=ADAPTER_KIND).order_by("id"))
    if not artifacts:
        raise NoAdapter(f"{run} trained no adapter (ICL and base runs do not train)")
    files = []
    for artifact in artifacts:
        root = _resolve(artifact.path)
        if root.is_dir():
            files += [(f"{root.name}/{f.relative_to(root)}", f) for f in sorted(root.rglob("*")) if f.is_file()]
        elif root.is_file():
            files.append((root.name, root))
        else:
            raise NoAdapter(f"the adapter file of {run} is missing on disk ({artifact.path})")
    return files


def adapter_zip(run):
    """A temporary file holding the zip (deleted when closed), and its download name."""
    files = adapter_files(run)
    out = tempfile.TemporaryFile()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, path in files:
            zf.write(path, name)
    out.seek(0)
    exp = run.experiment
    return out, f"adapter-exp{exp.pk}-run{run.pk}-{run.method}-n{run.n}-seed{run.seed}.zip"
