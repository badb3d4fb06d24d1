"""Downloads: an experiment's and a comparison's files, byte for byte the pages' downloads
(`services/exports.for_experiment` / `for_comparison`, served by `responses.attachment`).
An unknown file answers 404 naming the choices; a comparison takes the filters of
GET /api/comparisons/."""
from ninja import Query, Router

from webapp.lab import selectors
from webapp.lab.responses import attachment
from webapp.lab.services import exports

from ..errors import ApiError
from .comparisons import FilterQuery, selection

router = Router(tags=["exports"])

WHAT = "One of: " + "; ".join(f"`{k}` ({v[1]})" for k, v in exports.KINDS.items()) + "."
FILES = {"responses": {200: {"description": "The file, as an attachment. " + WHAT, "content": {
    ctype.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
    for ctype in dict.fromkeys(c for c, _ in exports.KINDS.values())}}}}


def _check(what):
    try:
        exports.check_kind(what)
    except exports.UnknownExport as exc:
        raise ApiError(404, str(exc)) from None


@router.get("/experiments/{int:experiment_id}/export/{str:what}", summary="Download an experiment's results",
            description=WHAT, openapi_extra=FILES)
def experiment_export(request, experiment_id: int, what: str):
    exp = selectors.get_experiment(request.user, experiment_id)
    _check(what)
    return attachment(exports.for_experiment(exp, what))


@router.get("/comparisons/export/{str:what}", summary="Download a comparison's results",
            description=WHAT + " The filters are those of GET /api/comparisons/.", openapi_extra=FILES)
def comparison_export(request, what: str, filters: Query[FilterQuery]):
    _check(what)
    return attachment(exports.for_comparison(selection(request, FilterQuery)[1], what))
