"""URL routes of the API app: the token pages (at the site root) and the API under /api/."""
from django.urls import path

from . import views
from .main import api

urlpatterns = [
    path("account/tokens/", views.token_list, name="api-tokens"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="api-token-revoke"),
    path("api/", api.urls),
]
