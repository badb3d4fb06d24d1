"""Every membership change, wherever it is made, closes a removed member's live pages and
writes one audit line (issue 22 item 5): through the real Django admin (test client on
/admin/, a real websocket consumer), through a shell (the ORM), and through the pages
(one line each, not two)."""
from html.parser import HTMLParser

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from webapp.teams.models import AuditEvent, Membership

from .test_live_access import _closed_with, _open, _still_streams, _world

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


class _Form(HTMLParser):
    """The values a browser would post for the admin change form."""

    def __init__(self):
        super().__init__()
        self.data, self._select = {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.data[name] = a.get("value", "on")
            else:
                self.data[name] = a.get("value", "")
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


@sync_to_async
def _admin_removes(team, member):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123")
    client = Client()
    client.force_login(admin)
    url = f"/admin/teams/team/{team.pk}/change/"
    form = _Form()
    form.feed(client.get(url).content.decode())
    row = next(k[:-len("-user")] for k, v in form.data.items() if k.endswith("-user") and v == str(member.pk))
    form.data[f"{row}-DELETE"] = "on"
    response = client.post(url, form.data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return admin


@sync_to_async
def _audit(team, verb):
    return list(AuditEvent.objects.filter(team=team, verb=verb).values_list("actor_name", "object_label"))


async def test_removing_a_member_in_the_admin_closes_their_page_and_is_audited():
    owner, member, team, _, exp, run = await _world()
    watching_member, watching_owner = await _open(exp, member), await _open(exp, owner)
    await _admin_removes(team, member)
    assert not await sync_to_async(Membership.objects.filter(team=team, user=member).exists)()
    assert await _closed_with(watching_member) == 4403
    assert await _still_streams(watching_owner, run, 3)
    await watching_owner.disconnect()
    assert await _audit(team, "remove") == [("root", "member")]


async def test_removing_a_member_from_a_shell_closes_their_page_and_is_audited():
    owner, member, team, _, exp, _ = await _world()
    watching = await _open(exp, member)
    await sync_to_async(Membership.objects.filter(team=team, user=member).delete)()
    assert await _closed_with(watching) == 4403
    assert await _audit(team, "remove") == [("", "member")]


@sync_to_async
def _page_changes(owner, member, team):
    client = Client()
    client.force_login(owner)
    m = Membership.objects.get(team=team, user=member)
    assert client.post(f"/teams/{team.pk}/members/{m.pk}/role/", {"role": "editor"}).status_code == 302
    assert client.post(f"/teams/{team.pk}/members/{m.pk}/remove/").status_code == 302


async def test_the_pages_write_one_line_per_change():
    owner, member, team, _, exp, _ = await _world()
    watching = await _open(exp, member)
    await _page_changes(owner, member, team)
    assert await _closed_with(watching) == 4403
    assert await _audit(team, "invite") == [("owner", "member")]
    assert await _audit(team, "role") == [("owner", "member")]
    assert await _audit(team, "remove") == [("owner", "member")]
    assert await _audit(team, "create") == [("owner", "T")]  # the founder's membership has no line of its own
