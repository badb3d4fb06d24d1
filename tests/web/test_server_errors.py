"""An unexpected error answers a plain 500 page and is logged with its traceback on the
server, only there."""
import logging

import pytest
from django.test import Client
from django.urls import path

SECRET = "internal detail /srv/lab/secret-path"


def _broken(request):
    raise RuntimeError(SECRET)


urlpatterns = [path("broken/", _broken)]


@pytest.mark.django_db
def test_a_500_is_logged_with_its_traceback_and_not_shown(settings, caplog):
    settings.ROOT_URLCONF = __name__
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/broken/")
    assert response.status_code == 500
    assert SECRET not in response.content.decode()
    records = [r for r in caplog.records if r.name == "django.request" and r.exc_info]
    assert records and SECRET in str(records[0].exc_info[1])
    handlers = logging.getLogger("django.request").handlers
    assert any(isinstance(h, logging.StreamHandler) for h in handlers), "500s must reach a server-side handler"
