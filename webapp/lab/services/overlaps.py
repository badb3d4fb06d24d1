"""LoRA subspace overlap between the adapters of an experiment's runs, for the heatmap on
the experiment page.

Each run executes on its own, so the pairs are measured by the worker when a run that
trained an adapter finishes (`lifecycle.run_job` calls `store_for_run` right before the
run is marked done, and once more after, for a partner that finished at the same moment):
its adapter against the adapter of every other done run of the same experiment with the
same N and seed. The measure is the engine's (`workers.engine.similarity.
lora_subspace_overlap` over the saved peft weights, `workers.engine.adapters.
load_saved_adapter`); both need torch and are imported only inside `measure_pair`, in the
process that executes runs, never by a view. A pair that cannot be measured ((IA)^3
adapters have no LoRA subspace, a missing or unreadable file) is logged and skipped: the
overlap never fails a run. The pairs are stored only while the run's attempt still owns it
(`Run.hold_attempt`, the fence of services/lifecycle.py). `experiment_summary` averages the
pairs over seeds."""
import logging
import math

from django.db import transaction
from django.db.models import Q

from ..models import METHOD_CHOICES, AdapterOverlap, Artifact, Run
from .adapters import NoAdapter, adapter_root
from .events import bump_results_version

log = logging.getLogger("webapp.lab")
METHOD_ORDER = [m for m, _ in METHOD_CHOICES]


def measure_pair(path_a, path_b):
    """The engine's overlap of two saved adapters (imports torch: worker process only)."""
    from workers.engine.adapters import load_saved_adapter
    from workers.engine.similarity import lora_subspace_overlap

    return lora_subspace_overlap(load_saved_adapter(path_a), load_saved_adapter(path_b))


def partners(run):
    """The other done runs of the experiment at the run's N and seed that stored an adapter
    and have no overlap with `run` stored yet."""
    measured = AdapterOverlap.objects.filter(Q(run_a=run) | Q(run_b=run)).values_list("run_a", "run_b")
    seen = {pk for pair in measured for pk in pair}
    others = (Run.objects.filter(experiment_id=run.experiment_id, n=run.n, seed=run.seed, state=Run.DONE,
                                 artifacts__kind=Artifact.ADAPTER)
              .exclude(pk=run.pk).distinct().order_by("id"))
    return [o for o in others if o.pk not in seen]


def _ordered(first, second):
    """The pair in the page's method order (then by run id), so that each pair is stored once."""
    def rank(r):
        return (METHOD_ORDER.index(r.method) if r.method in METHOD_ORDER else len(METHOD_ORDER), r.pk)

    return (first, second) if rank(first) <= rank(second) else (second, first)


def store_for_run(run, tried=()):
    """Measure and store the overlap of `run`'s adapter with each partner's, except the runs in
    `tried`; the ids of the partners it tried. Pairs that cannot be measured are logged and
    skipped."""
    if not run.trains_adapter:
        return set()
    try:
        mine = adapter_root(run)
    except NoAdapter as exc:
        log.warning("adapter overlap of run %s skipped: %s", run.pk, exc)
        return set()
    if mine is None:
        return set()
    rows, attempted = [], set()
    for other in partners(run):
        if other.pk in tried:
            continue
        attempted.add(other.pk)
        try:
            theirs = adapter_root(other)
            result = measure_pair(mine, theirs)
        except Exception as exc:  # noqa: BLE001 - (IA)^3, a missing or unreadable file: skip the pair
            log.warning("adapter overlap of runs %s and %s skipped: %s: %s", run.pk, other.pk,
                        type(exc).__name__, exc)
            continue
        if not math.isfinite(result["mean"]):
            log.info("adapter overlap of runs %s and %s skipped: no trained lora_B matrix in common", run.pk, other.pk)
            continue
        a, b = _ordered(run, other)
        chance = result.get("random")
        rows.append(AdapterOverlap(
            experiment_id=run.experiment_id, run_a=a, run_b=b, n=run.n, seed=run.seed, method_a=a.method,
            method_b=b.method, mean=result["mean"],
            random=chance if chance is not None and math.isfinite(chance) else None,
            per_module=result["per_module"]))
    if rows:
        with transaction.atomic():
            if not run.hold_attempt():
                log.warning("adapter overlap of run %s dropped: another attempt owns the run", run.pk)
                return attempted
            AdapterOverlap.objects.bulk_create(rows, ignore_conflicts=True)
            bump_results_version(run.experiment_id)
    return attempted


def store_safely(run, tried=()):
    """`store_for_run`, never raising: the overlap is an extra, the run's result stands."""
    try:
        return store_for_run(run, tried)
    except Exception:  # noqa: BLE001
        log.warning("adapter overlap of run %s skipped", run.pk, exc_info=True)
        return set()
