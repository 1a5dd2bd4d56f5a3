"""Ids from forms, URLs and the session that cannot be ids (40 digits, negative, "Infinity",
floats) are a 404 or a fallback, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.middleware import SESSION_TEAM_KEY
from tests.factories import make_conversation, make_message, row_of

HUGE = "1" * 40
ABSURD = [HUGE, str(2**63), "-1", "Infinity", "NaN", "1.5", "1e3", " 1", ""]


@pytest.mark.parametrize("value", ABSURD)
def test_team_switch(alice_client, team, value):
    assert alice_client.post(reverse("accounts:team_switch"), {"team_id": value}).status_code == 404
    assert SESSION_TEAM_KEY not in alice_client.session


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("accounts:invite_create", []),
        ("accounts:invite_revoke", [1]),
        ("accounts:member_role", [1]),
        ("accounts:member_remove", [1]),
    ],
)
def test_a_huge_team_id_in_the_url(alice_client, team, name, extra):
    response = alice_client.post(reverse(name, args=[HUGE, *extra]), {"role": "viewer"})
    assert response.status_code == 404


@pytest.mark.parametrize("name", ["accounts:invite_revoke", "accounts:member_role"])
def test_a_huge_child_id_in_the_url(alice_client, team, name):
    before = [row_of(m) for m in team.memberships.order_by("pk")]
    response = alice_client.post(reverse(name, args=[team.pk, HUGE]), {"role": "viewer"})
    assert response.status_code == 404
    assert [row_of(m) for m in team.memberships.order_by("pk")] == before


def test_a_huge_member_id_on_the_remove_page(alice_client, team):
    url = reverse("accounts:member_remove", args=[team.pk, HUGE])
    assert alice_client.get(url).status_code == 404
    assert team.memberships.count() == 3


@pytest.mark.parametrize("value", [HUGE, "Infinity"])
def test_a_stale_or_forged_team_in_the_session_falls_back(alice_client, team, value):
    session = alice_client.session
    session[SESSION_TEAM_KEY] = value
    session.save()
    response = alice_client.get(reverse("chat:home"))
    assert response.status_code == 200
    assert response.wsgi_request.team == team


@pytest.mark.parametrize("value", ABSURD)
def test_switch_version_message_ids(alice_client, team, alice, value):
    conversation = make_conversation(team, alice)
    make_message(conversation)
    before = row_of(conversation)
    url = reverse("chat:switch_version", args=[conversation.pk])
    assert alice_client.post(url, {"message_id": value}).status_code == 404
    assert row_of(conversation) == before
