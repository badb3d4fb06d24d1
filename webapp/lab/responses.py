"""HTTP responses that several routes build the same way: an experiment's JSON payloads
(history, results, per-example predictions), a run's adapter download and an export file.

The experiment pages, the share-link routes (webapp/teams/views.py) and the REST API
(webapp/api/routers) each check access their own way, then answer with these, so the bytes,
headers and caching are the same whichever way the caller came in. Every function takes an
experiment the caller has already checked access to.

Results and per-example tables only contain finished ("done") runs, and a finished
experiment's history no longer changes, so these payloads are served from the cache
(keyed by `Experiment.cache_key`, which changes whenever a run changes state) with an
ETag: a repeated request costs the session, user and experiment lookups and nothing else.
A running experiment's history is cached too, briefly and without a validator, per
progress flush (services/cache.by_progress).
"""
import hashlib

from django.http import FileResponse, HttpResponse, HttpResponseNotFound, HttpResponseNotModified, JsonResponse
from . import selectors
from .services import cache
from .services.adapters import NoAdapter, adapter_zip
from .services.experiment_summary import compare, per_example
from .services.history import full_history


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
    """Per-example predictions of one (eval_task, n, seed); 400 naming the field for a
    missing or malformed parameter, 404 for a combination no finished run has."""
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


def adapter_response(exp, run_id):
    """The zip download of a run of `exp` (404 for another experiment's run; 404 with the
    reason when the run has no adapter)."""
    run = selectors.run_or_404(exp, run_id)
    try:
        handle, name = adapter_zip(run)
    except NoAdapter as exc:
        return HttpResponseNotFound(str(exc), content_type="text/plain; charset=utf-8")
    return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")


def attachment(export):
    """An `exports.Export` as a download (the pages' and the REST API's)."""
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
