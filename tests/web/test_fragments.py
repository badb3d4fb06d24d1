"""The cached rows of the busiest pages (webapp/lab/fragments.py) are never behind the
database: a task's page of examples shows an example added, edited or deleted a moment
before, a running experiment's rows show its latest progress flush, and every request's
forms carry that session's own CSRF token, never one taken from the cache."""
import re

from django.test import Client
from django.utils import timezone

from webapp.lab.models import Example, Run
from webapp.teams.services import personal_team

from .conftest import make_task
from .test_query_bounds import seed_experiment

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _client(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_a_cached_page_of_examples_follows_every_change(user):
    task = make_task(user, n=150, team=personal_team(user))
    client = _client(user)
    url = f"/tasks/{task.pk}/"
    first = client.get(url).content.decode()
    assert "example 0" in first and "example 120" not in first  # page 1 of 2, rows 1-100
    token = TOKEN.findall(first)[-1]
    added = client.post(f"/tasks/{task.pk}/examples/add/", {"input": "a brand new row", "output": "positive",
                                                            "split": "pool", "csrfmiddlewaretoken": token})
    assert added.status_code == 302
    Example.objects.filter(task=task, input="example 3").update(input="example three, edited")
    page = client.get(url).content.decode()
    assert "example three, edited" in page and "151 in the pool" in page
    last = client.get(url + "?page=2").content.decode()
    assert "a brand new row" in last and "Examples 101–151 of 151" in last
    doomed = Example.objects.get(task=task, input="a brand new row")
    token = TOKEN.findall(last)[-1]
    assert client.post(f"/tasks/{task.pk}/examples/{doomed.pk}/delete/",
                       {"csrfmiddlewaretoken": token}).status_code == 302
    assert "a brand new row" not in client.get(url + "?page=2").content.decode()


def test_each_session_gets_its_own_token_in_cached_rows(user):
    task = make_task(user, n=5, team=personal_team(user))
    for _ in range(2):  # the second session's page comes from the cache
        client = _client(user)
        page = client.get(f"/tasks/{task.pk}/").content.decode()
        tokens = TOKEN.findall(page)
        assert len(tokens) >= 5 + 3 and "@@csrf" not in page  # a delete per row + the add/import forms
        ex = task.examples.first()
        resp = client.post(f"/tasks/{task.pk}/examples/{ex.pk}/delete/", {"csrfmiddlewaretoken": tokens[-1]})
        assert resp.status_code == 302  # accepted: the token belongs to this session


def test_a_running_experiments_rows_show_the_latest_flush(user):
    exp = seed_experiment(user, 8)
    run = exp.runs.order_by("id").first()
    Run.objects.filter(pk=run.pk).update(state=Run.RUNNING, stage="train", message="step 1 of 40",
                                         heartbeat_at=timezone.now())
    exp.refresh_from_db()
    client = _client(user)
    assert "step 1 of 40" in client.get(f"/experiments/{exp.pk}/").content.decode()
    assert "step 1 of 40" in client.get(f"/experiments/{exp.pk}/").content.decode()  # from the cache
    # what a progress flush writes (services/events.Reporter.flush): the row follows at once
    Run.objects.filter(pk=run.pk).update(message="step 30 of 40", heartbeat_at=timezone.now())
    page = client.get(f"/experiments/{exp.pk}/").content.decode()
    assert "step 30 of 40" in page and "step 1 of 40" not in page


def test_what_was_run_is_cached_until_a_run_changes_state(user):
    """The experiment page's provenance section (services/provenance.describe) is computed once
    per results version: a run's recorded model identity shows once its state change lands."""
    from webapp.lab.services import provenance
    from webapp.lab.services.events import bump_results_version

    exp = seed_experiment(user, 8)
    assert provenance.describe(exp)["model_identities"] == []
    run = exp.runs.filter(state=Run.DONE).first()
    Run.objects.filter(pk=run.pk).update(provenance={"model_revision": "rev-1", "weights_sha256": "ab" * 32,
                                                     "dtype": "float32", "device": "cpu"})
    assert provenance.describe(exp)["model_identities"] == []  # same results version: the cached answer
    bump_results_version(exp.pk)  # what lifecycle.set_state does with every state change
    exp.refresh_from_db()
    assert [i["revision"] for i in provenance.describe(exp)["model_identities"]] == ["rev-1"]


def test_a_running_experiments_history_is_cached_per_flush_and_follows_each(user):
    """history.json of a running experiment (the live page's first load) is computed once per
    progress flush: a repeated request reads no loss point, and a flush through the real
    recorder shows in the next answer at once, with its point and event."""
    import json

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from webapp.lab.services.events import ProgressRecorder

    exp = seed_experiment(user, 8)
    run = exp.runs.filter(state=Run.RUNNING).first() or exp.runs.first()
    Run.objects.filter(pk=run.pk).update(state=Run.RUNNING, heartbeat_at=timezone.now())
    run.refresh_from_db()
    client = _client(user)
    url = f"/experiments/{exp.pk}/history.json"
    recorder = ProgressRecorder(run, min_interval=0.0)
    recorder({"stage": "sft", "step": 11, "total": 40, "values": {"loss": 0.9}})  # after the seeded 0-9
    first = json.loads(client.get(url).content)
    assert first["series"][str(run.pk)]["sft/loss"]["values"][-1] == 0.9
    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)
    assert json.loads(again.content) == first and "ETag" not in again  # still changing: no validator
    assert not any("lab_metricpoint" in q["sql"] for q in queries.captured_queries)
    recorder({"stage": "sft", "step": 12, "total": 40, "values": {"loss": 0.4}})
    latest = json.loads(client.get(url).content)
    assert latest["series"][str(run.pk)]["sft/loss"]["values"][-2:] == [0.9, 0.4]
    assert latest["last_event"] > first["last_event"] and latest["last_point"] > first["last_point"]
    assert [r["step"] for r in latest["runs"] if r["id"] == run.pk] == [12]
    # once every run is final, the finished history (with a validator) replaces the live one
    Run.objects.filter(experiment=exp).exclude(state__in=Run.FINAL_STATES).update(state=Run.DONE)
    from webapp.lab.services.events import bump_results_version

    bump_results_version(exp.pk)
    done = client.get(url)
    assert "ETag" in done and all(r["state"] in Run.FINAL_STATES for r in json.loads(done.content)["runs"])
