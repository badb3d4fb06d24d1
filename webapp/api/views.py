"""The personal API token pages: list (name, prefix, created, last used), create (the token
is shown once, on the answer to the POST: never redirected to, cached or stored), revoke."""
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from .models import ApiToken
from .services import TokenError, create_token, revoke_token


def _page(request, status=200, **context):
    tokens = ApiToken.objects.filter(user=request.user, revoked_at__isnull=True)
    return render(request, "api/tokens.html", {"tokens": tokens, **context}, status=status)


@login_required
@never_cache
def token_list(request):
    if request.method != "POST":
        return _page(request)
    try:
        row, token = create_token(request.user, request.POST.get("name"))
    except TokenError as exc:
        return _page(request, status=400, error=str(exc), name=(request.POST.get("name") or "")[:100])
    response = _page(request, created=row, token=token)
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_POST
def token_revoke(request, token_id):
    row = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if row is None:  # another user's token, or none: nothing to say about it
        from django.http import Http404

        raise Http404("No such token.")
    if revoke_token(request.user, row.pk):
        messages.success(request, f'Token "{row.name}" ({row.prefix}…) revoked: requests with it now answer 401.')
    else:
        messages.info(request, f'Token "{row.name}" was already revoked.')
    return redirect("api-tokens")


def not_found(request, exception=None):
    """handler404: JSON under /api/ (a URL no route matches, e.g. /api/tasks/abc/), Django's
    page elsewhere."""
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        return JsonResponse({"detail": f"No API route matches {request.path[:200]}: see /api/docs for the routes."},
                            status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
