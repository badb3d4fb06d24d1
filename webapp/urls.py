"""Top-level URL configuration."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("webapp.lab.urls")),
    path("", include("webapp.teams.urls")),
    path("", include("webapp.api.urls")),  # /account/tokens/ and the REST API at /api/
]

handler400 = "webapp.lab.middleware.bad_request"
handler404 = "webapp.api.views.not_found"  # JSON under /api/
handler500 = "webapp.lab.middleware.server_error"
