"""Store an engine result list for a run in one transaction (+ a JSON artifact on disk), only
while the attempt that produced it still owns the run (`Run.hold_attempt`: the fence of
services/lifecycle.py)."""
import hashlib
import json
from pathlib import Path

from django.conf import settings
from django.db import transaction

from ..models import Artifact, EvalResult, LayerSimilarity, MetricPoint, Prediction, Run, Task
from .events import history_points


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def write_artifact(run, kind, name, data):
    rel = Path("runs") / str(run.experiment_id) / str(run.id) / name
    path = Path(settings.MEDIA_ROOT) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Artifact(run=run, kind=kind, path=str(rel), sha256=hashlib.sha256(data).hexdigest(), size=len(data))


class AttemptSuperseded(Exception):
    """The attempt lost its run (claimed again by another, or reaped): its write was dropped."""


def store_results(run, results, provenance=None):
    """All rows of a finished run (eval results, layers, predictions, artifact, and its
    provenance when given: `services/provenance.for_run`) or none. AttemptSuperseded, and
    nothing written, when `run`'s attempt no longer owns the run. The file is written with
    the row locked, so a claim of another attempt never meets it half done."""
    experiment = run.experiment
    tasks_by_name = {t.name: t for t in [experiment.train_task, *experiment.eval_tasks.all()]}
    blob = json.dumps(results, default=str, indent=1).encode()
    with transaction.atomic():
        if not run.hold_attempt():
            raise AttemptSuperseded(f"run {run.pk}: attempt {run.attempts} no longer owns the run")
        artifact = write_artifact(run, "results", "results.json", blob)
        try:
            _store(run, results, experiment, tasks_by_name, artifact, provenance)
        except BaseException:
            (Path(settings.MEDIA_ROOT) / artifact.path).unlink(missing_ok=True)
            raise


def _store(run, results, experiment, tasks_by_name, artifact, provenance=None):
    with transaction.atomic():
        if provenance is not None:
            run.provenance = json.loads(json.dumps(provenance, default=str))  # JSON-safe, as stored
            Run.objects.filter(pk=run.pk).update(provenance=run.provenance)
        for res in results:
            name = str(res.get("eval_task") or experiment.train_task.name)
            er = EvalResult.objects.create(
                run=run,
                eval_task=tasks_by_name.get(name) or Task.objects.filter(name=name).first(),
                eval_task_name=name,
                accuracy=_num(res.get("accuracy")),
                ece=_num(res.get("ece")),
                ece_equal_mass=_num(res.get("ece_equal_mass")),
                brier=_num(res.get("brier")),
                nll=_num(res.get("nll")),
                mean_similarity=_num(res.get("mean_similarity")),
                n_layers=res.get("n_layers"),
                reliability=res.get("reliability") or [],
                timings=res.get("timings") or {},
            )
            cos, cka = res.get("layer_similarity") or [], res.get("layer_cka") or []
            LayerSimilarity.objects.bulk_create(
                LayerSimilarity(result=er, layer=i, cosine=_num(cos[i]) if i < len(cos) else None,
                                cka=_num(cka[i]) if i < len(cka) else None)
                for i in range(max(len(cos), len(cka)))
            )
            Prediction.objects.bulk_create(
                Prediction(
                    result=er,
                    index=int(p.get("index", i)),
                    input=str(p.get("input", "")),
                    gold=str(p.get("gold", "")),
                    predicted=str(p.get("predicted", "")),
                    confidence=_num(p.get("confidence")),
                    correct=bool(p["correct"]) if "correct" in p else str(p.get("gold")) == str(p.get("predicted")),
                    label_probs=p.get("label_probs"),
                )
                for i, p in enumerate(res.get("predictions") or [])
            )
        if results and not MetricPoint.objects.filter(run=run).exists():
            # nothing streamed live: keep the loss history the engine returned
            MetricPoint.objects.bulk_create(history_points(run, results[0].get("loss_history")))
        if results:
            run.training = results[0].get("training_stages") or []   # what training chose, as the engine said
            Run.objects.filter(pk=run.pk).update(training=run.training)
        artifact.save()
        Artifact.objects.bulk_create(engine_artifacts(run, results))


def engine_artifacts(run, results):
    """Artifacts the engine wrote (e.g. adapter weights), recorded once per path."""
    media = Path(settings.MEDIA_ROOT).resolve()
    seen, rows = set(), []
    for res in results:
        for a in res.get("artifacts") or []:
            path = Path(str(a.get("path", "")))
            if not a.get("path") or str(path) in seen:
                continue
            seen.add(str(path))
            try:
                rel = str(path.resolve().relative_to(media))
            except ValueError:
                rel = str(path)
            rows.append(Artifact(run=run, kind=str(a.get("kind", "file"))[:32], path=rel[:500],
                                 sha256=str(a.get("sha256", ""))[:64], size=int(a.get("bytes") or 0)))
    return rows
