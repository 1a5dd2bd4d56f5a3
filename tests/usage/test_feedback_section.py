"""The usage page's Feedback section: thumbs per model and the latest notes, only of the teams
the viewer may review, narrowed by the page's filters and its own Feedback filter; a note's
link to its reply follows the charges' rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from chat.models import Feedback, Message
from tests.factories import make_conversation, make_message, make_user
from usage import feedback
from usage import forms as usage_forms
from usage.models import UsageRecord, month_of

OVERVIEW = reverse("usage:overview")


@pytest.fixture(autouse=True)
def _catalogue(monkeypatch):
    monkeypatch.setattr(usage_forms, "list_chat_models", lambda: ["gpt-4o", "gpt-4o-mini"])


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rated(team, author, rater, *, model="gpt-4o", rating="down", note="", shared=False):
    conversation = make_conversation(team, author, title="Chat", is_shared=shared)
    question = make_message(conversation, content="Q", author=author)
    reply = make_message(
        conversation, role=Message.Role.ASSISTANT, content="A", parent=question, model=model
    )
    record = UsageRecord.objects.create(
        team=team,
        user=author,
        kind=UsageRecord.Kind.CHAT,
        model=model,
        cost=Decimal("0.01"),
        status=UsageRecord.Status.SETTLED,
        conversation=conversation,
        message=reply,
        month=month_of(timezone.now()),
    )
    rated = Feedback.objects.create(message=reply, user=rater, rating=rating, note=note)
    return rated, record


def _section(content: str) -> str:
    return content[content.index('id="feedback"') :]


def test_feedback_is_chats_reached_through_the_ledger():
    assert feedback.feedback_model() is Feedback


def test_the_owner_sees_counts_per_model_and_notes_of_their_team_only(
    alice, bob, team, charlie, other_team
):
    _rated(team, bob, bob, model="gpt-4o", rating="down", note="Made up a citation")
    _rated(team, bob, bob, model="gpt-4o", rating="up")
    _rated(team, alice, alice, model="gpt-4o-mini", rating="up", note="Spot on")
    _rated(other_team, charlie, charlie, model="gpt-4o", rating="down", note="Charlie's secret")

    response = _client(alice).get(OVERVIEW)
    section = _section(response.content.decode())

    assert [
        (r["message__model"], r["up"], r["down"], r["notes"])
        for r in response.context["feedback_counts"]
    ] == [("gpt-4o", 1, 1, 1), ("gpt-4o-mini", 1, 0, 1)]
    assert "Made up a citation" in section and "Spot on" in section
    assert "Charlie&#x27;s secret" not in section and "Charlie's secret" not in section

    other = _section(_client(charlie).get(OVERVIEW).content.decode())
    assert "Charlie&#x27;s secret" in other
    assert "Made up a citation" not in other and "Spot on" not in other


def test_a_member_who_reviews_nothing_cannot_open_the_page(bob_client, team):
    assert bob_client.get(OVERVIEW).status_code == 403


def test_the_feedback_filter_narrows_the_section(alice, bob, team):
    _rated(team, bob, bob, rating="down", note="Wrong")
    _rated(team, bob, bob, rating="up", note="Right")
    _rated(team, bob, bob, rating="up")
    client = _client(alice)

    def shown(which: str) -> tuple[list, list]:
        context = client.get(OVERVIEW, {"feedback": which}).context
        counts = [(r["up"], r["down"]) for r in context["feedback_counts"]]
        return counts, [n.note for n in context["feedback_notes"]]

    assert shown("") == ([(2, 1)], ["Right", "Wrong"])
    assert shown("up") == ([(2, 0)], ["Right"])
    assert shown("down") == ([(0, 1)], ["Wrong"])
    assert shown("note") == ([(1, 1)], ["Right", "Wrong"])
    assert client.get(OVERVIEW, {"kind": "image"}).context["feedback_counts"] == []


def test_the_member_filter_applies_and_an_outsider_is_a_404(alice, bob, team, charlie):
    _rated(team, bob, bob, note="Bob's")
    _rated(team, alice, alice, note="Alice's")
    client = _client(alice)
    notes = client.get(OVERVIEW, {"user": bob.pk}).context["feedback_notes"]
    assert [n.note for n in notes] == ["Bob's"]
    assert client.get(OVERVIEW, {"user": charlie.pk}).status_code == 404


def test_a_notes_link_follows_the_charges_rule(alice, bob, team):
    _rated(team, bob, bob, note="In private")
    shared, _record = _rated(team, bob, bob, note="In the open", shared=True)
    notes = {n.note: n for n in _client(alice).get(OVERVIEW).context["feedback_notes"]}

    assert notes["In private"].content_url is None  # the owner may not read it
    conversation = shared.message.conversation
    expected = f"{conversation.get_absolute_url()}#message-{shared.message_id}"
    assert notes["In the open"].content_url == expected


def test_a_site_admin_sees_every_team_and_links_through_the_audited_record(
    bob, team, charlie, other_team
):
    root = make_user("root", is_staff=True, is_superuser=True)
    _note, record = _rated(team, bob, bob, note="In private")
    _rated(other_team, charlie, charlie, note="Elsewhere")

    response = _client(root).get(OVERVIEW)
    notes = {n.note: n for n in response.context["feedback_notes"]}

    assert set(notes) == {"In private", "Elsewhere"}
    assert notes["In private"].content_url == reverse("usage:record", args=[record.pk])
    assert f'href="{reverse("usage:record", args=[record.pk])}"' in _section(
        response.content.decode()
    )


def test_an_empty_range_says_so(alice_client, team):
    assert 'id="feedback-empty"' in alice_client.get(OVERVIEW).content.decode()
