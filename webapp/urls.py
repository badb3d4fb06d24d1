"""Top-level URL configuration."""
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("webapp.lab.urls")),
    path("", include("webapp.teams.urls")),
    path("", include("webapp.api.urls")),  # /account/tokens/ and the REST API at /api/
]

# styled error pages: templates/400.html, 403.html (the PermissionDenied's reason), 404.html (the
# Http404's message), 429.html, 500.html (no request context), 503.html
handler400 = "webapp.lab.middleware.bad_request"
handler403 = "django.views.defaults.permission_denied"  # Django's, rendering templates/403.html
handler404 = "webapp.api.views.not_found"  # JSON under /api/
handler500 = "webapp.lab.middleware.server_error"
