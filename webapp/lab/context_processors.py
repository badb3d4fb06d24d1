"""Template context every page needs: which account options this server offers."""
from django.conf import settings


def accounts(request):
    return {"demo_user": settings.LAB_DEMO_USER, "signup_open": settings.LAB_ALLOW_SIGNUP}
