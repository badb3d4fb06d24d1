"""The cross-experiment comparison (/compare/): the page, its chart data and its downloads,
and an experiment's downloads. Thin: the filters, the statistics and the files come from
services/cross_experiment.py and services/exports.py; access from webapp/teams/permissions.py
(runs outside the user's teams never appear; an explicit id outside them answers 404)."""
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render

from .. import selectors
from ..responses import attachment
from ..services import cross_experiment, exports


def _selection(request):
    """(filters, selection, errors): errors is {field: message} for bad parameters."""
    try:
        filters = cross_experiment.parse(request.GET)
    except cross_experiment.BadParameters as exc:
        return None, None, exc.errors
    try:
        return filters, cross_experiment.select(request.user, filters), {}
    except cross_experiment.NotReadable as exc:
        raise Http404(str(exc)) from None


@login_required
def compare_page(request):
    filters, selection, errors = _selection(request)
    context = {"facets": cross_experiment.facets(request.user), "errors": errors, "export_kinds": exports.KINDS,
               "show_choices": cross_experiment.SHOW, "methods": cross_experiment.METHODS, "query": request.GET.urlencode()}
    if errors:
        return render(request, "lab/compare.html", context, status=400)
    data = cross_experiment.comparison(selection)
    examples = cross_experiment.per_example(selection, filters.example_task, filters.show, filters.a, filters.b,
                                       filters.page)
    context.update({
        "filters": filters, "data": data, "paired": cross_experiment.paired(selection, filters.a, filters.b),
        "examples": examples, "summary_rows": _summary_rows(data),
        "prev_page": filters.query(page=examples["page"] - 1) if examples["page"] > 1 else None,
        "next_page": filters.query(page=examples["page"] + 1) if examples["page"] < examples["pages"] else None,
        "query": filters.query(),
    })
    return render(request, "lab/compare.html", context)


TABLE_METRICS = exports.METRICS  # the run metrics of the engine's metric table, as the template's headings


def _cell(stat):
    """"mean ± sd [95% CI]" of one metric over seeds (one seed: the mean alone)."""
    if not stat:
        return {"text": "—", "title": ""}
    text = f"{stat['mean']:.3f}"
    if stat.get("ci95"):
        text += f" ± {stat['std']:.3f} [{stat['ci95'][0]:.3f}, {stat['ci95'][1]:.3f}]"
    return {"text": text, "title": "runs: " + ", ".join(f"seed {seed}: {v:.4f}" for seed, v in stat["points"])}


def _summary_rows(data):
    return [{**row, "cells": [_cell(row.get(m)) for m in TABLE_METRICS]} for row in data["summary"]]


@login_required
def compare_data(request):
    """The comparison as JSON (charts, scripts): the same filters as the page."""
    filters, selection, errors = _selection(request)
    if errors:
        return JsonResponse({"errors": errors}, status=400)
    return JsonResponse(cross_experiment.comparison(selection))


def _unknown(exc):
    return HttpResponse(str(exc), status=404, content_type="text/plain; charset=utf-8")


@login_required
def compare_export(request, what):
    try:
        exports.check_kind(what)
    except exports.UnknownExport as exc:
        return _unknown(exc)
    filters, selection, errors = _selection(request)
    if errors:
        text = "; ".join(f"{k}: {v}" for k, v in errors.items())
        return HttpResponse(f"bad parameters: {text}", status=400, content_type="text/plain; charset=utf-8")
    return attachment(exports.for_comparison(selection, what))


@login_required
def experiment_export(request, pk, what):
    exp = selectors.get_experiment(request.user, pk)
    try:
        return attachment(exports.for_experiment(exp, what))
    except exports.UnknownExport as exc:
        return _unknown(exc)
