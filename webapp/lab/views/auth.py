"""Sign-up page (sign-in/out use Django's auth views)."""
from django.conf import settings
from django.contrib.auth import login
from django.http import Http404
from django.shortcuts import redirect, render

from ..forms import SignUpForm


def signup(request):
    if not settings.LAB_ALLOW_SIGNUP:
        raise Http404("Sign-up is turned off on this server; ask its administrator for an account.")
    if request.user.is_authenticated:
        return redirect("experiment-list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("task-list")
    return render(request, "registration/signup.html", {"form": form})
