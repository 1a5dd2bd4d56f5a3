"""Public links: off until a team owner allows them; made and revoked only by the
conversation's creator (audited); the page is read-only, shows only its conversation's
current thread, is not indexed and writes nothing."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat.models import PublicLink
from tests.factories import make_conversation, make_message
from usage.models import AuditEntry

HTMX = {"HX-Request": "true"}


@pytest.fixture
def allowed(team):
    team.allow_public_links = True
    team.save(update_fields=["allow_public_links"])
    return team


@pytest.fixture
def conversation(team, alice):
    chat = make_conversation(team, alice, title="Trip plan", is_shared=True)
    question = make_message(chat, content="Where to go?", author=alice)
    make_message(
        chat,
        role="assistant",
        content="Lisbon",
        parent=question,
        html='<p>Lisbon <img src="/media/x.png" alt="x"></p>',
    )
    return chat


def _create(client, conversation, **kwargs):
    return client.post(reverse("chat:link_create", args=[conversation.pk]), **kwargs)


def _revoke(client, conversation):
    return client.post(reverse("chat:link_revoke", args=[conversation.pk]))


def _link(conversation) -> PublicLink:
    return PublicLink.objects.get(conversation=conversation, revoked_at__isnull=True)


def test_links_are_off_by_default(alice_client, conversation):
    assert _create(alice_client, conversation).status_code == 403
    assert "public-link" not in alice_client.get(conversation.get_absolute_url()).content.decode()
    assert not PublicLink.objects.exists()


def test_the_creator_makes_sees_and_revokes_a_link(alice_client, allowed, conversation, alice):
    response = _create(alice_client, conversation, headers=HTMX)
    assert response.status_code == 200
    link = _link(conversation)
    assert len(link.token) >= 43  # 256 random bits
    assert link.token in response.content.decode()
    _create(alice_client, conversation)  # a second press keeps the same link
    assert PublicLink.objects.count() == 1
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert link.token in page and "Revoke link" in page
    anonymous = Client()
    assert anonymous.get(link.get_absolute_url()).status_code == 200
    _revoke(alice_client, conversation)
    assert anonymous.get(link.get_absolute_url()).status_code == 404
    actions = list(AuditEntry.objects.order_by("pk").values_list("action", "actor", "owner"))
    assert actions == [
        ("public link: create", alice.pk, alice.pk),
        ("public link: revoke", alice.pk, alice.pk),
    ]


@pytest.mark.parametrize("who", ["bob_client", "victor_client", "charlie_client"])
def test_only_the_creator_makes_or_revokes_links(request, who, allowed, conversation, alice_client):
    client = request.getfixturevalue(who)
    # bob and victor read the shared conversation (403); charlie is of another team (404)
    expected = 404 if who == "charlie_client" else 403
    assert _create(client, conversation).status_code == expected
    assert not PublicLink.objects.exists()
    _create(alice_client, conversation)
    assert _revoke(client, conversation).status_code == expected
    assert _link(conversation)
    assert "public-link" not in client.get(conversation.get_absolute_url()).content.decode()


def test_a_viewer_cannot_make_a_link_of_their_own_conversation(victor_client, victor, allowed):
    # a viewer demoted after writing a conversation no longer writes it
    own = make_conversation(allowed, victor, title="Old")
    assert _create(victor_client, own).status_code == 403


def test_turning_the_team_switch_off_stops_every_link(alice_client, allowed, conversation, alice):
    other = make_conversation(allowed, alice, title="Second")
    _create(alice_client, conversation)
    _create(alice_client, other)
    urls = [link.get_absolute_url() for link in PublicLink.objects.all()]
    switch = reverse("accounts:team_public_links", args=[allowed.pk])
    alice_client.post(switch, {})  # unchecked
    allowed.refresh_from_db()
    assert not allowed.allow_public_links
    assert [Client().get(url).status_code for url in urls] == [404, 404]
    alice_client.post(switch, {"allow": "on"})
    assert [Client().get(url).status_code for url in urls] == [200, 200]


def test_only_owners_flip_the_switch(bob_client, charlie_client, team):
    switch = reverse("accounts:team_public_links", args=[team.pk])
    assert bob_client.post(switch, {"allow": "on"}).status_code == 403
    assert charlie_client.post(switch, {"allow": "on"}).status_code == 404
    team.refresh_from_db()
    assert not team.allow_public_links


def test_a_link_dies_when_its_creator_leaves_the_team(alice_client, allowed, team, bob, bob_client):
    chat = make_conversation(team, bob, title="Bob's")
    _create(bob_client, chat)
    url = _link(chat).get_absolute_url()
    team.memberships.filter(user=bob).delete()
    assert Client().get(url).status_code == 404


def test_the_page_is_read_only_and_shows_only_this_conversation(
    alice_client, allowed, conversation, team, alice
):
    other = make_conversation(team, alice, title="Secret other")
    make_message(other, content="other conversation text")
    _create(alice_client, conversation)
    response = Client().get(_link(conversation).get_absolute_url())
    html = response.content.decode()
    assert "Where to go?" in html and "Lisbon" in html
    assert "Secret other" not in html and "other conversation text" not in html
    assert "<form" not in html and "<textarea" not in html and "ws-connect" not in html
    assert '<img src="/media' not in html  # pictures left out, with a note
    assert "pictures are not shared" in html
    assert "alice" not in html  # no author names
    assert '<meta name="robots" content="noindex' in html
    assert response["X-Robots-Tag"].startswith("noindex")
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-cache" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


def test_an_unknown_token_is_a_404(alice):
    assert Client().get(reverse("chat:public", args=["nope"])).status_code == 404


def test_the_page_is_cheap_and_writes_nothing(alice_client, allowed, conversation):
    _create(alice_client, conversation)
    url = _link(conversation).get_absolute_url()
    parent = conversation.current_leaf
    for i in range(30):
        parent = make_message(conversation, content=f"more {i}", parent=parent)
    client = Client()
    client.get(url)  # the first-run check and similar caches warm up
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) <= 2, sql  # the link with its conversation and team; the messages
    assert not [s for s in sql if not s.lstrip().upper().startswith("SELECT")]
    assert AuditEntry.objects.filter(action__startswith="public link: view").count() == 0
