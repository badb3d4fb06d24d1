"""The experiment page's JSON: live history, compare results, per-example predictions.

Thin: access through selectors.get_experiment, the payloads and their caching (ETags,
by-progress caching) from webapp/lab/responses.py, which the share-link routes and the
REST API answer with too.
"""
from django.contrib.auth.decorators import login_required

from .. import responses, selectors


@login_required
def history_json(request, pk):
    return responses.history_response(request, selectors.get_experiment(request.user, pk))


@login_required
def results_json(request, pk):
    return responses.results_response(request, selectors.get_experiment(request.user, pk))


@login_required
def examples_json(request, pk):
    return responses.examples_response(request, selectors.get_experiment(request.user, pk))
