"""The REST API (django-ninja, mounted at /api/) and personal API tokens.

`main.py` builds the NinjaAPI from one router per resource (`routers/`); `auth.py` reads
`Authorization: Bearer <token>` (tokens: `models.ApiToken`, written by `services.py`, made and
revoked on the /account/tokens/ pages of `views.py`). Access rules: webapp/teams/permissions.py.
"""
