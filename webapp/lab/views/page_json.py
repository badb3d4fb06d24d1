"""JSON endpoints: live history, compare results, per-example predictions.

Results and per-example tables only contain finished ("done") runs, and a finished
experiment's history no longer changes, so these payloads are served from the cache
(keyed by `Experiment.cache_key`, which changes whenever a run changes state) with an
ETag: a repeated request costs the session, user and experiment lookups and nothing else.
A running experiment's history is cached too, briefly and without a validator, per
progress flush (services/cache.by_progress).
"""
import hashlib

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse

from ..services import cache
from ..services.experiment_summary import compare, per_example
from ..services.history import full_history
from .experiments import get_experiment


def _json(request, key, body):
    """The response for a final payload cached under `key`, with an ETag the browser
    revalidates with: 304 when it holds it, else the JSON bytes `body()` gives."""
    etag = f'"{hashlib.sha1(key.encode()).hexdigest()[:20]}"'
    if etag in request.headers.get("If-None-Match", ""):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(body(), content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"  # the browser revalidates with the ETag
    return response


def _cached_json(request, key, compute):
    """A final payload from the cache (or computed, encoded and cached) as `_json`."""
    return _json(request, key, lambda: cache.remember(key, lambda: cache.encode(compute())))


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
    """Cached by the experiment's progress (services/cache.by_progress): once every run is
    final under its results version, with an ETag; while runs are live, briefly per progress
    flush, without a validator."""
    body, final = cache.by_progress(exp, "history", lambda: cache.encode(full_history(exp)))
    if final:
        return _json(request, exp.cache_key("history"), lambda: body)
    response = HttpResponse(body, content_type="application/json")
    response["Cache-Control"] = "private, no-cache"
    return response


def results_response(request, exp):
    return _cached_json(request, exp.cache_key("results"), lambda: compare(exp))


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
        return _cached_json(request, exp.cache_key("examples", task_hash, n, seed), compute)
    except LookupError:
        return JsonResponse({"field": "eval_task,n,seed", "error": f"this experiment has no result for eval_task={task[:120]!r}, n={n}, "
                                      f"seed={seed}; choose one listed in results.json"}, status=404)
