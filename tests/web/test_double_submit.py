"""Two quick POSTs of one rendered experiment form create one experiment (the form's
idempotency key, ExperimentForm.submit_key); the second is sent to the first's page."""
import re
import threading

import pytest
from django.test import Client

from webapp.lab.models import Experiment, Run

from .conftest import experiment_post


def _rendered_key(client):
    page = client.get("/experiments/new/").content.decode()
    return re.search(r'name="submit_key" value="([0-9a-f]{32})"', page).group(1)


@pytest.mark.django_db
def test_second_post_of_the_same_form_redirects_to_the_first_experiment(client_in, task, no_engine_check):
    key = _rendered_key(client_in)
    assert _rendered_key(client_in) != key  # each rendering gets its own key
    first = client_in.post("/experiments/new/", experiment_post(task, submit_key=key))
    second = client_in.post("/experiments/new/", experiment_post(task, submit_key=key), follow=True)
    exp = Experiment.objects.get()
    assert first.status_code == 302 and first["Location"] == f"/experiments/{exp.pk}/"
    assert second.redirect_chain[-1][0] == f"/experiments/{exp.pk}/"
    assert "already submitted" in second.content.decode()
    assert Run.objects.count() == 2
    # another rendering of the form is another experiment
    client_in.post("/experiments/new/", experiment_post(task, submit_key=_rendered_key(client_in)))
    assert Experiment.objects.count() == 2


@pytest.mark.django_db
def test_a_forged_key_is_a_form_error(client_in, task, no_engine_check):
    resp = client_in.post("/experiments/new/", experiment_post(task, submit_key="<x>"))
    assert resp.status_code == 200 and "reload the page" in resp.content.decode()
    assert not Experiment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_posts_create_one_experiment(user, task, no_engine_check):
    """Both requests pass the 'already submitted?' check; the unique key lets one commit."""
    clients = [Client(), Client()]
    for c in clients:
        c.force_login(user)
    key = _rendered_key(clients[0])
    barrier, answers = threading.Barrier(2), []

    def post(c):
        from django.db import connection

        barrier.wait()
        try:
            answers.append(c.post("/experiments/new/", experiment_post(task, submit_key=key)))
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    exp = Experiment.objects.get()
    assert [a.status_code for a in answers] == [302, 302]
    assert {a["Location"] for a in answers} == {f"/experiments/{exp.pk}/"}
    assert exp.runs.count() == 2
