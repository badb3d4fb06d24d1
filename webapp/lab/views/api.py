"""JSON endpoints: live history, compare results, per-example predictions.

Results and per-example tables only contain finished ("done") runs, and a finished
experiment's history no longer changes, so these payloads are served from the cache
(keyed by `Experiment.cache_key`, which changes whenever a run changes state) with an
ETag: a repeated request costs the session, user and experiment lookups and nothing else.
"""
import hashlib

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse

from ..models import Run
from ..services import cache
from ..services.compare import compare, per_example
from ..services.history import full_history
from .experiments import get_experiment


def _json(request, key, compute, store=True):
    """JSON from the cache (or computed and cached); an ETag when the payload is final.
    `store`: True, or a callable asked on a cache miss whether the payload is final."""
    etag = f'"{hashlib.sha1(key.encode()).hexdigest()[:20]}"'
    if store is True and etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        body, final = cache.json_bytes(key, compute, store=store)
        response = HttpResponse(body, content_type="application/json")
        if not final:
            etag = None  # still changing: no validator
    if etag:
        response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"  # the browser revalidates with the ETag
    return response


@login_required
def history_json(request, pk):
    return history_response(request, get_experiment(request, pk))


@login_required
def results_json(request, pk):
    return results_response(request, get_experiment(request, pk))


@login_required
def examples_json(request, pk):
    return examples_response(request, get_experiment(request, pk))


# the payloads, for an experiment the caller has already checked access to
# (the pages above, and the share-link routes of webapp/teams)

def history_response(request, exp):
    """Cached once every run is final (the cache is checked first: an entry exists only for a
    finished experiment at this results version, so a hit needs no further query)."""

    def finished():
        return not exp.runs.exclude(state__in=Run.FINAL_STATES).exists()

    return _json(request, exp.cache_key("history"), lambda: full_history(exp), store=finished)


def results_response(request, exp):
    return _json(request, exp.cache_key("results"), lambda: compare(exp))


def examples_response(request, exp):
    task = request.GET.get("eval_task")
    if not task or "n" not in request.GET:
        return JsonResponse({"field": "eval_task" if not task else "n",
                             "error": "give eval_task, n and seed (e.g. ?eval_task=sentiment&n=4&seed=0), as "
                                      "listed in results.json"}, status=400)
    numbers = {}
    for name, default in (("n", None), ("seed", "0")):
        try:
            numbers[name] = int(request.GET.get(name, default))
        except ValueError:
            return JsonResponse({"field": name, "error": f"{name} must be a whole number listed in results.json"},
                                status=400)
    n, seed = numbers["n"], numbers["seed"]
    task_hash = hashlib.sha1(task.encode()).hexdigest()[:16]

    def compute():
        # checked before anything is stored: made-up parameters (no finished run has them)
        # never fill the cache
        payload = per_example(exp, task, n, seed)
        if not payload["methods"]:
            raise LookupError
        return payload

    try:
        return _json(request, exp.cache_key("examples", task_hash, n, seed), compute)
    except LookupError:
        return JsonResponse({"field": "eval_task,n,seed", "error": f"this experiment has no result for eval_task={task[:120]!r}, n={n}, "
                                      f"seed={seed}; choose one listed in results.json"}, status=404)
