"""Sign-up page (sign-in/out use Django's auth views; their throttling: lab/lockout.py)."""
from django.conf import settings
from django.contrib.auth import login
from django.core.cache import cache
from django.http import Http404
from django.shortcuts import redirect, render

from axes.helpers import get_client_ip_address

from ..forms import SignUpForm

SIGNUP_WINDOW = 3600  # seconds: LAB_SIGNUP_ATTEMPTS_PER_HOUR


def signup(request):
    if not settings.LAB_ALLOW_SIGNUP:
        raise Http404("Sign-up is turned off on this server; ask its administrator for an account.")
    if request.user.is_authenticated:
        return redirect("experiment-list")
    if request.method == "POST" and _too_many_attempts(request):
        response = render(request, "429.html", {
            "title": "Too many sign-up attempts",
            "message": (f"This address tried to sign up more than {settings.LAB_SIGNUP_ATTEMPTS_PER_HOUR} times in "
                        "the last hour; nothing was created. Try again in an hour, or ask the server's "
                        "administrator for an account.")}, status=429)
        response["Retry-After"] = str(SIGNUP_WINDOW)
        return response
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("task-list")
    return render(request, "registration/signup.html", {"form": form})


def _too_many_attempts(request):
    """Counts this sign-up POST for the client's address (the one axes reads, so a proxy's
    settings apply to both) in the cache; True past the hourly limit. An unreachable cache
    lets it through: the form's own checks still apply."""
    key = f"signup-attempts:{get_client_ip_address(request)}"
    try:
        cache.add(key, 0, timeout=SIGNUP_WINDOW)
        return cache.incr(key) > settings.LAB_SIGNUP_ATTEMPTS_PER_HOUR
    except Exception:  # noqa: BLE001
        return False
