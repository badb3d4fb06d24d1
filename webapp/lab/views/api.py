"""JSON endpoints: live history, compare results, per-example predictions."""
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, JsonResponse

from ..services.compare import compare, per_example
from ..services.history import full_history
from .experiments import get_experiment


@login_required
def history_json(request, pk):
    return JsonResponse(full_history(get_experiment(request, pk)))


@login_required
def results_json(request, pk):
    return JsonResponse(compare(get_experiment(request, pk)))


@login_required
def examples_json(request, pk):
    exp = get_experiment(request, pk)
    try:
        n, seed = int(request.GET["n"]), int(request.GET.get("seed", 0))
        task = request.GET["eval_task"]
    except (KeyError, ValueError):
        return HttpResponseBadRequest("give eval_task, n and seed")
    return JsonResponse(per_example(exp, task, n, seed))
