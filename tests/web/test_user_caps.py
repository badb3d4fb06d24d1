"""Per-user caps on teams and share links (issue 22 item 14): past LAB_MAX_TEAMS_PER_USER or
LAB_MAX_SHARE_LINKS_PER_USER the page refuses with a message naming the limit; revoked and
expired links and the personal space do not count; concurrent creations cannot beat the cap."""
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from webapp.lab.models import Experiment
from webapp.teams import services
from webapp.teams.models import ShareLink, Team

from .conftest import make_task


def _messages(response):
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


@pytest.mark.django_db
def test_the_team_cap_names_the_limit(client_in, user, settings):
    settings.LAB_MAX_TEAMS_PER_USER = 2
    for name in ("a", "b"):
        assert client_in.post("/teams/", {"name": name}).status_code == 302
    response = client_in.post("/teams/", {"name": "c"}, follow=True)
    assert response.status_code == 200
    assert "LAB_MAX_TEAMS_PER_USER = 2" in _messages(response)
    assert set(Team.objects.filter(created_by=user, personal=False).values_list("name", flat=True)) == {"a", "b"}


@pytest.mark.django_db
def test_the_share_link_cap_counts_live_links_only(client_in, user, settings):
    settings.LAB_MAX_SHARE_LINKS_PER_USER = 2
    exp = Experiment.objects.create(owner=user, train_task=make_task(user), methods=["sft"], n_values=[4])
    url = f"/experiments/{exp.pk}/share/"
    assert client_in.post(url, {"label": "one"}).status_code == 200
    assert client_in.post(url, {"label": "two"}).status_code == 200
    refused = client_in.post(url, {"label": "three"}, follow=True)
    assert "LAB_MAX_SHARE_LINKS_PER_USER = 2" in _messages(refused)
    assert ShareLink.objects.filter(created_by=user).count() == 2
    services.revoke_share_link(user, ShareLink.objects.get(label="one"))
    ShareLink.objects.filter(label="two").update(expires_at=timezone.now() - timedelta(days=1))
    for label in ("four", "five"):
        assert client_in.post(url, {"label": label}).status_code == 200
    assert services.live_share_links(user).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_team_creations_cannot_beat_the_cap(user, settings):
    settings.LAB_MAX_TEAMS_PER_USER = 3
    results, barrier = [], threading.Barrier(6)

    def create(i):
        barrier.wait()
        try:
            services.create_team(user, f"t{i}")
            results.append("ok")
        except services.TeamError:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] * 3 + ["refused"] * 3
    assert Team.objects.filter(created_by=user, personal=False).count() == 3
