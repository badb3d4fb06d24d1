"""Sign-up page (sign-in/out use Django's auth views)."""
from django.contrib.auth import login
from django.shortcuts import redirect, render

from ..forms import SignUpForm


def signup(request):
    if request.user.is_authenticated:
        return redirect("experiment-list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("task-list")
    return render(request, "registration/signup.html", {"form": form})
