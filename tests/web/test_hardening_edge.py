"""Issue 22, items 7, 8, 10, 11, 13 and 14 (the request body limits of item 4 are in
test_body_limits.py): each through the real view, the API or the sign-in page, each failing
on the code before its fix."""
import csv
import io
import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from webapp.api.models import ApiToken
from webapp.api.services import TokenError, create_token
from webapp.lab.forms import MAX_TEMPLATE_CHARS
from webapp.lab.models import Example, Task
from webapp.teams.services import personal_team

from .conftest import fake_result, make_run, make_sft_experiment, make_task
from .test_api import Api


@pytest.fixture
def api(user):
    return Api(user)


@pytest.fixture
def own_task(user):
    return make_task(user, name="own", team=personal_team(user))


def _messages(client, response):
    return [str(m) for m in client.get(response["Location"]).context["messages"]]


# --- item 7: 500s that become 4xx naming the field ------------------------------------------

@pytest.mark.django_db
def test_a_nul_in_a_token_name_is_refused_with_the_reason(client_in, user):
    response = client_in.post("/account/tokens/", {"name": "laptop\x00"})
    assert response.status_code == 400 and "NUL" in response.content.decode()
    assert not ApiToken.objects.exists()
    with pytest.raises(TokenError, match="lone surrogate"):
        create_token(user, "laptop\ud800")  # what a JSON client could send


JSONL_SURROGATE = b'{"input": "broken \\ud800 text", "output": "positive"}\n'


@pytest.mark.django_db
def test_a_jsonl_import_with_a_lone_surrogate_is_refused_on_the_page_and_the_api(client_in, api, own_task):
    before = own_task.examples.count()
    page = client_in.post(f"/tasks/{own_task.pk}/import/", {"file": SimpleUploadedFile("d.jsonl", JSONL_SURROGATE),
                                                            "split": "pool"})
    assert page.status_code == 302
    assert any("Nothing was imported" in m and 'Line 1: "input" contains a lone surrogate (\\ud800' in m
               for m in _messages(client_in, page))
    response = api.client.post(f"/api/tasks/{own_task.pk}/import/",
                               {"file": SimpleUploadedFile("d.jsonl", JSONL_SURROGATE)}, headers=api.headers)
    assert response.status_code == 422, response.content
    assert "lone surrogate" in response.json()["errors"]["file"][0]
    assert own_task.examples.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("path,body,field", [
    ("/tasks/", '{"name": "bad \\ud800 name", "labels": ["a", "b"]}', "name"),
    ("/tasks/", '{"name": "fine", "labels": ["a", "b"], "examples": [{"input": "x\\udfff", "output": "a"}]}',
     "examples[0].input"),
    ("/tasks/{task}/examples/", '{"input": "\\ud800", "output": "positive"}', "input"),
    ("/tasks/{task}/examples/bulk/", '{"examples": [{"input": "ok", "output": "positive"}, '
                                     '{"input": "ok", "output": "pos\\ud800"}]}', "examples[1].output"),
])
def test_a_lone_surrogate_in_api_json_is_a_422_naming_the_field(api, own_task, path, body, field):
    tasks, examples = Task.objects.count(), Example.objects.count()
    response = api.send("POST", path.format(task=own_task.pk), body)
    assert response.status_code == 422, response.content
    assert field in response.json()["errors"] and "lone surrogate" in response.json()["detail"]
    assert (Task.objects.count(), Example.objects.count()) == (tasks, examples)


@pytest.mark.django_db
def test_an_offset_past_the_databases_range_is_a_422_naming_offset(api, user, own_task):
    exp = make_sft_experiment(user)
    run = make_run(exp)
    for path in ("/tasks/", "/experiments/", "/teams/", f"/tasks/{own_task.pk}/examples/",
                 f"/experiments/{exp.pk}/runs/", f"/experiments/{exp.pk}/runs/{run.pk}/predictions/",
                 "/comparisons/examples/"):
        response = api.get(f"{path}?offset=9223372036854775808")
        assert response.status_code == 422, (path, response.status_code, response.content[:300])
        assert list(response.json()["errors"]) == ["offset"], path
    assert api.get("/tasks/?offset=2147483647").json()["items"] == []


# --- item 8: a line break cannot start a spreadsheet row ------------------------------------

@pytest.mark.django_db
def test_a_carriage_return_cannot_split_a_row_of_the_csv_downloads(client_in, user):
    from webapp.lab.models import Run
    from webapp.lab.services.results import store_results
    from workers.engine.plan import RunKey

    exp = make_sft_experiment(user)
    exp.name = "ok\r=1+1"
    exp.save(update_fields=["name"])
    result = fake_result(RunKey("sft", 4, 0), exp.train_task.name)
    result["predictions"][0]["input"] = "\r=1+1"
    result["predictions"][1]["input"] = "line one\r\n@SUM(A1)"
    store_results(make_run(exp, state=Run.DONE), [result])
    for what, rows_expected in (("metrics.csv", 1), ("predictions.csv", 4)):
        response = client_in.get(f"/experiments/{exp.pk}/export/{what}")
        assert response.status_code == 200
        text = b"".join(response.streaming_content if response.streaming else [response.content]).decode()
        # a spreadsheet ends a row at CR, LF or CRLF outside quotes, as this reader does
        header, *rows = list(csv.reader(io.StringIO(text, newline="")))
        assert len(rows) == rows_expected, (what, rows)
        assert all(len(row) == len(header) for row in rows), (what, rows)
        name = header.index("experiment_name")
        assert {row[name] for row in rows} == {"ok\n=1+1"}
        if what == "predictions.csv":
            inputs = [row[header.index("input")] for row in rows]
            assert "'\n=1+1" in inputs and "line one\n@SUM(A1)" in inputs


# --- item 10: labels are never rewritten silently -------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("labels", [["x,y", "z"], ["p\nq", "r"], ["a", "b\r"], ["u\u2028v", "w"]])
def test_api_labels_holding_a_separator_are_refused(api, own_task, labels):
    body = {"name": "labelled", "kind": "classification", "labels": labels}
    response = api.send("POST", "/tasks/", json.dumps(body))
    assert response.status_code == 422, response.content
    assert "comma or a line break" in response.json()["errors"]["labels"][0]
    assert not Task.objects.filter(name="labelled").exists()
    patched = api.send("PATCH", f"/tasks/{own_task.pk}/", json.dumps({"labels": labels}))
    assert patched.status_code == 422 and "labels" in patched.json()["errors"]
    own_task.refresh_from_db()
    assert own_task.labels == ["positive", "negative"]


@pytest.mark.django_db
def test_api_labels_without_separators_are_stored_as_sent(api):
    response = api.send("POST", "/tasks/", json.dumps({"name": "ok", "labels": ["very good", "not good; bad"]}))
    assert response.status_code == 201, response.content
    assert response.json()["labels"] == ["very good", "not good; bad"]


# --- item 11: share tokens in mistyped URLs are redacted from the log --------------------------

@pytest.mark.django_db
def test_mistyped_share_urls_do_not_log_the_token(user, caplog):
    from webapp.teams.services import create_share_link

    _, token = create_share_link(user, make_sft_experiment(user), "reviewers")
    anon = Client()
    with caplog.at_level(logging.WARNING):
        for url in (f"/s//{token}/", f"/S/{token}/", f"/s/ {token}/", f"/s/%20{token}/", f"/s/{token}x/"):
            assert anon.get(url).status_code == 404, url
    assert caplog.text.count("[redacted]") >= 5, caplog.text
    assert token not in caplog.text


# --- item 13: the input template has a length limit -----------------------------------------

@pytest.mark.django_db
def test_a_long_input_template_is_refused_by_the_form_and_the_api(client_in, api):
    template = "Text: {x}\n" + "t" * MAX_TEMPLATE_CHARS
    response = client_in.post("/tasks/new/", {"name": "long", "kind": "classification", "input_template": template,
                                              "answer_parser": "plain", "labels_text": "a, b"})
    assert response.status_code == 200
    assert "the limit is 2,000" in response.context["form"].errors["input_template"][0]
    via_api = api.send("POST", "/tasks/", json.dumps({"name": "long", "labels": ["a", "b"],
                                                      "input_template": template}))
    assert via_api.status_code == 422 and "the limit is 2,000" in via_api.json()["errors"]["input_template"][0]
    assert not Task.objects.filter(name="long").exists()
    ok = api.send("POST", "/tasks/", json.dumps({"name": "long", "labels": ["a", "b"],
                                                 "input_template": template[:MAX_TEMPLATE_CHARS]}))
    assert ok.status_code == 201


# --- item 14: sign-in lockout, sign-up, API rate limit -----------------------------------------

FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # a flood of sign-ins in seconds


def _login(client, username, password, ip):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_a_flood_of_failures_elsewhere_does_not_lock_the_admin_out(client, settings):
    settings.PASSWORD_HASHERS = FAST_HASHER
    get_user_model().objects.create_superuser("root", password="root-pw-long")
    limit = settings.AXES_FAILURE_LIMIT
    for address in ("203.0.113.7", "198.51.100.9"):  # the attacker's addresses
        for attempt in range(limit + 3):
            _login(client, "root", f"guess-{attempt}", address)
        assert _login(client, "root", "root-pw-long", address).status_code == 429  # that pair is locked
    assert _login(client, "root", "root-pw-long", "10.0.0.1").status_code == 302  # the admin's own address
    client.logout()
    # the admin's own pair still locks after its own failures
    for attempt in range(limit):
        _login(client, "root", "typo", "10.0.0.1")
    assert _login(client, "root", "root-pw-long", "10.0.0.1").status_code == 429


@pytest.mark.django_db
def test_an_address_spraying_many_usernames_is_locked_at_its_ceiling(client, settings):
    settings.PASSWORD_HASHERS = FAST_HASHER
    settings.LAB_LOGIN_ADDRESS_FAILURES = 12
    get_user_model().objects.create_user("carol", password="carol-pw-long")
    for attempt in range(11):
        _login(client, f"user-{attempt}", "guess", "203.0.113.50")
    assert _login(client, "carol", "carol-pw-long", "203.0.113.50").status_code == 302  # under the ceiling
    client.logout()
    _login(client, "user-x", "guess", "203.0.113.50")  # the 12th failure
    assert _login(client, "carol", "carol-pw-long", "203.0.113.50").status_code == 429
    assert _login(client, "carol", "carol-pw-long", "203.0.113.51").status_code == 302


SIGNUP = {"username": "newcomer", "password1": "a long enough pass 42", "password2": "a long enough pass 42"}


@pytest.mark.django_db
def test_sign_up_is_throttled_per_address(client, settings):
    settings.LAB_ALLOW_SIGNUP = True
    settings.LAB_SIGNUP_ATTEMPTS_PER_HOUR = 3
    for _ in range(3):
        assert client.post("/accounts/signup/", {**SIGNUP, "password2": "differs"},
                           REMOTE_ADDR="192.0.2.1").status_code == 200
    refused = client.post("/accounts/signup/", SIGNUP, REMOTE_ADDR="192.0.2.1")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many sign-up attempts" in refused.content.decode()
    assert not get_user_model().objects.filter(username="newcomer").exists()
    assert client.post("/accounts/signup/", SIGNUP, REMOTE_ADDR="192.0.2.2").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("username,refused", [
    ("\u0430lice", "looks like an existing account"),  # Cyrillic а
    ("AIice", "looks like an existing account"),  # capital I for l
    ("al\u0456ce", "looks like an existing account"),  # Cyrillic і
    ("\uff41\uff4c\uff49\uff43\uff45", "already exists"),  # fullwidth: NFKC makes it alice
    ("alicia", None),
])
def test_sign_up_refuses_look_alike_usernames(client, user, settings, username, refused):
    settings.LAB_ALLOW_SIGNUP = True
    response = client.post("/accounts/signup/", {**SIGNUP, "username": username})
    if refused is None:
        assert response.status_code == 302 and get_user_model().objects.filter(username=username).exists()
        return
    assert response.status_code == 200
    assert any(refused in e for e in response.context["form"].errors["username"]), response.context["form"].errors
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_the_api_rate_limit_is_per_token_with_retry_after(user, settings):
    settings.LAB_API_RATE_LIMIT = 5
    first, second = Api(user, "script"), Api(user, "laptop")
    assert [first.get("/teams/").status_code for _ in range(5)] == [200] * 5
    refused = first.get("/teams/")
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= settings.LAB_API_RATE_WINDOW
    assert "at most 5 per 60 s" in refused.json()["detail"]
    assert first.send("POST", "/tasks/", json.dumps({"name": "t", "labels": ["a", "b"]})).status_code == 429
    assert second.get("/teams/").status_code == 200  # another token of the same user has its own count
