"""The NinjaAPI mounted at /api/: one router per resource (routers/), token authentication
(auth.py), JSON errors (errors.py), the OpenAPI schema at /api/openapi.json and the
documentation page at /api/docs (Swagger UI from ninja's bundled static files, rendered by a
template with no inline script and no external host, so it works under the site's
Content-Security-Policy: webapp/lab/security.py)."""
from ninja import NinjaAPI
from ninja.openapi.docs import Swagger

from . import errors
from .auth import READ_AUTH
from .parsing import StorableJsonParser
from .throttling import TokenRateThrottle
from .routers import comparisons, experiments, exports, runs, share_links, tasks, teams

DESCRIPTION = """Drive the lab from scripts: tasks and their examples, experiments (launched
with the same checks and messages as the experiment form), runs, results.

**Authentication.** Create a personal token at `/account/tokens/` and send
`Authorization: Bearer <token>` with every request (the **Authorize** button here does it).
A signed-in browser session may read (GET) but never change anything.

**Access.** The rules of the pages: an object outside your teams answers 404, a role that
cannot do something answers 403. New tasks and experiments go into `team` (an id from
`GET /api/teams/`), by default your current team (for a token: your personal space).

**Lists** are paginated: `?limit=` (at most 500) and `?offset=`; the answer has `items`,
`count` and the offset of the `next` page.

**Comparisons** across experiments take the filters of the `/compare/` page as query
parameters (`model`, `train_task`, `eval_task`, `method`, `n`, `seed`, `state`, `experiment`,
`run`; repeat one or separate values with commas); the exports are the pages' downloads.

**Errors** are JSON: `{"detail": "..."}`, and for invalid input (422)
`{"errors": {"field": ["message", ...]}}` naming each field and what to change.

**Rate limit.** Each token may send LAB_API_RATE_LIMIT requests per LAB_API_RATE_WINDOW
seconds (600 per 60 s unless the server says otherwise); past it the API answers 429 with
`Retry-After`, the seconds to wait.
"""


class LabSwagger(Swagger):
    """Swagger UI under the site's CSP: settings passed as JSON data, scripts from /static/,
    no validator badge (it would load an image from validator.swagger.io)."""

    template = "api/docs.html"
    default_settings = {"layout": "BaseLayout", "deepLinking": True, "validatorUrl": None,
                        "persistAuthorization": False, "tryItOutEnabled": False}


def build_api():
    api = NinjaAPI(title="ICL / SFT / IA2 lab API", version="1", description=DESCRIPTION, auth=READ_AUTH,
                   urls_namespace="api", docs=LabSwagger(), docs_url="/docs", openapi_url="/openapi.json",
                   parser=StorableJsonParser(), throttle=[TokenRateThrottle()])
    errors.install(api)
    api.add_router("/teams/", teams.router)
    api.add_router("/tasks/", tasks.router)
    api.add_router("/experiments/", experiments.router)
    api.add_router("/experiments/", runs.router)
    api.add_router("/comparisons/", comparisons.router)
    api.add_router("", share_links.router)  # /experiments/{id}/share-links/, /share-links/{id}/
    api.add_router("", exports.router)  # /experiments/{id}/export/{what}, /comparisons/export/{what}
    return api


api = build_api()
