"""Accounts on a shared server: the demo account only in local mode, sign-up that can be
turned off, Django's password validators, and sign-in throttling (django-axes)."""
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command


def _login(client, username, password, ip="10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_demo_account_is_offered_only_in_local_mode(client, settings):
    assert "demo" in client.get("/accounts/login/").content.decode()
    settings.LAB_DEMO_USER = False
    call_command("ensure_demo_user")
    assert not get_user_model().objects.filter(username="demo").exists()
    assert "demo" not in client.get("/accounts/login/").content.decode()


@pytest.mark.django_db
def test_signup_can_be_turned_off(client, settings):
    settings.LAB_ALLOW_SIGNUP = False
    assert client.get("/accounts/signup/").status_code == 404
    resp = client.post("/accounts/signup/", {"username": "eve", "password1": "a-long-pass-phrase",
                                             "password2": "a-long-pass-phrase"})
    assert resp.status_code == 404 and not get_user_model().objects.filter(username="eve").exists()
    assert "/accounts/signup/" not in client.get("/accounts/login/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("password,needle", [
    ("short-pw", "at least 10 characters"),
    ("1234567890123", "entirely numeric"),
    ("password123", "too common"),
])
def test_weak_passwords_are_refused_with_the_reason(client, password, needle):
    resp = client.post("/accounts/signup/", {"username": "dave", "password1": password, "password2": password})
    assert resp.status_code == 200
    assert any(needle in e for e in resp.context["form"].errors["password2"])
    assert not get_user_model().objects.filter(username="dave").exists()


@pytest.mark.django_db
def test_repeated_failures_for_one_account_answer_429_even_with_the_right_password(client, user, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "alice", f"wrong-{attempt}", ip="10.0.1.1").status_code == 200
    assert _login(client, "alice", "wrong-last", ip="10.0.1.1").status_code == 429
    # locked by (username, address): the right password from that address is refused too
    assert _login(client, "alice", "pw-alice", ip="10.0.1.1").status_code == 429
    assert "_auth_user_id" not in client.session
    # failures from elsewhere never lock the account itself (lab/lockout.py)
    assert _login(client, "alice", "pw-alice", ip="10.0.2.2").status_code == 302


@pytest.mark.django_db
def test_repeated_failures_from_one_address_answer_429(client, user, other_user, settings):
    settings.LAB_LOGIN_ADDRESS_FAILURES = 2 * settings.AXES_FAILURE_LIMIT
    for attempt in range(settings.LAB_LOGIN_ADDRESS_FAILURES):
        _login(client, f"nobody-{attempt}", "guess", ip="10.9.9.9")
    assert _login(client, "bob", "pw-bob", ip="10.9.9.9").status_code == 429
    assert _login(client, "bob", "pw-bob", ip="10.9.9.8").status_code == 302  # another address signs in


@pytest.mark.django_db
def test_a_successful_sign_in_resets_the_count(client, user, settings):
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "alice", "wrong")
    assert _login(client, "alice", "pw-alice").status_code == 302
    client.logout()
    assert _login(client, "alice", "wrong").status_code == 200  # counting starts again
