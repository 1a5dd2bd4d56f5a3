"""Thumbs up / down on replies (chat.feedback): over the conversation's socket, one per user and
reply, changed or taken back, with a note; readers may rate; every tab of the rater follows,
nobody else's; the page shows the viewer's own rating. And the Details list's cost, loaded
with the thread in its one query."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import feedback
from chat.models import Feedback, Message
from tests.factories import make_conversation, make_message
from tests.sockets import TIMEOUT, cookie_for, open_socket, receive_until, send_action
from usage.models import UsageRecord, month_of

ASSISTANT = Message.Role.ASSISTANT


def _reply(conversation, **extra) -> Message:
    question = make_message(conversation, content="Question", author=conversation.created_by)
    return make_message(
        conversation, role=ASSISTANT, content="An answer", parent=question, model="demo", **extra
    )


@pytest.fixture
def reply(conversation):
    return _reply(conversation)


def _thumbs(frame: str, message_id: int) -> dict[str, str]:
    pressed = re.findall(
        rf'id="message-{message_id}-thumb-(up|down)" data-icon="thumb-\w+" aria-pressed="(\w+)"',
        frame,
    )
    return dict(pressed)


def _is_feedback(message_id: int):
    return lambda frame: f'id="message-{message_id}-feedback"' in frame


def _rows():
    return list(Feedback.objects.values_list("user__username", "rating", "note"))


rows = database_sync_to_async(_rows)
cookie = database_sync_to_async(cookie_for)


@pytest.mark.django_db(transaction=True)
async def test_a_thumb_down_is_saved_shown_pressed_and_opens_the_note_form(alice_socket, reply):
    await send_action(alice_socket, "feedback", message_id=reply.pk, rating="down")
    [frame] = await receive_until(alice_socket, _is_feedback(reply.pk))

    assert await rows() == [("alice", "down", "")]
    assert _thumbs(frame, reply.pk) == {"up": "false", "down": "true"}
    assert 'hx-swap-oob="outerHTML"' in frame
    assert f'id="message-{reply.pk}-note" ws-send>' in frame  # open: not hidden
    assert "What went wrong? (optional)" in frame

    await send_action(alice_socket, "feedback", message_id=reply.pk, note="  Too long-winded. ")
    frames = await receive_until(alice_socket, _is_feedback(reply.pk))
    assert await rows() == [("alice", "down", "Too long-winded.")]
    assert f'id="message-{reply.pk}-note" ws-send hidden>' in frames[-1]
    assert "Too long-winded.</textarea>" in frames[-1]


@pytest.mark.django_db(transaction=True)
async def test_the_pressed_thumb_takes_the_rating_back_and_the_other_changes_it(
    alice_socket, reply
):
    await send_action(alice_socket, "feedback", message_id=reply.pk, rating="up")
    [frame] = await receive_until(alice_socket, _is_feedback(reply.pk))
    assert _thumbs(frame, reply.pk) == {"up": "true", "down": "false"}
    # The pressed thumb's form now sends "none".
    assert (
        'name="rating" value="none"><button type="submit" class="icon-action feedback-btn" id'
        in frame
    )

    await send_action(alice_socket, "feedback", message_id=reply.pk, rating="down")
    await receive_until(alice_socket, _is_feedback(reply.pk))
    assert await rows() == [("alice", "down", "")]

    await send_action(alice_socket, "feedback", message_id=reply.pk, rating="none")
    [frame] = await receive_until(alice_socket, _is_feedback(reply.pk))
    assert await rows() == []
    assert _thumbs(frame, reply.pk) == {"up": "false", "down": "false"}
    assert "note" not in frame.split('id="message-')[1].split("thumb-up")[0]


@pytest.mark.django_db(transaction=True)
async def test_the_raters_other_tabs_follow_without_opening_the_form_and_nobody_elses(
    conversation, reply, alice, bob, team
):
    conversation.is_shared = True
    await database_sync_to_async(conversation.save)()
    first, _ok = await open_socket(conversation, await cookie(alice))
    second, _ok = await open_socket(conversation, await cookie(alice))
    bobs, _ok = await open_socket(conversation, await cookie(bob))
    for socket in (first, second):
        await socket.receive_from(timeout=TIMEOUT)  # idle controls (bob may only read)
    try:
        await send_action(first, "feedback", message_id=reply.pk, rating="down")
        await receive_until(first, _is_feedback(reply.pk))
        [other] = await receive_until(second, _is_feedback(reply.pk))
        assert _thumbs(other, reply.pk) == {"up": "false", "down": "true"}
        assert f'id="message-{reply.pk}-note" ws-send hidden>' in other
        assert await bobs.receive_nothing(timeout=0.3)
    finally:
        for socket in (first, second, bobs):
            await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_viewer_of_a_shared_conversation_may_rate(conversation, reply, victor):
    conversation.is_shared = True
    await database_sync_to_async(conversation.save)()
    socket, connected = await open_socket(conversation, await cookie(victor))
    assert connected
    await socket.receive_nothing(timeout=0.2)
    try:
        await send_action(socket, "feedback", message_id=reply.pk, rating="up")
        await receive_until(socket, _is_feedback(reply.pk))
        assert await rows() == [("victor", "up", "")]
    finally:
        await socket.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_refusals_answer_with_an_error_and_store_nothing(alice_socket, conversation, reply):
    question = reply.parent
    too_long = "x" * (Feedback.NOTE_MAX_CHARS + 1)
    for data in (
        {"message_id": question.pk, "rating": "up"},  # not a reply
        {"message_id": 10**30, "rating": "up"},
        {"message_id": reply.pk, "rating": "meh"},
        {"message_id": reply.pk, "note": "no rating yet"},
    ):
        await send_action(alice_socket, "feedback", **data)
        [frame] = await receive_until(alice_socket, lambda f: 'id="live-region"' in f)
        assert 'role="alert"' in frame or "field-error" in frame or "composer-error" in frame
    await send_action(alice_socket, "feedback", message_id=reply.pk, rating="up")
    await receive_until(alice_socket, _is_feedback(reply.pk))
    await send_action(alice_socket, "feedback", message_id=reply.pk, note=too_long)
    [frame] = await receive_until(alice_socket, lambda f: 'id="live-region"' in f)
    assert "500" in frame
    assert await rows() == [("alice", "up", "")]


def _apply(user, conversation, **data):
    session = cookie_for(user).decode().split("=", 1)[1]
    return feedback.apply(
        session_key=session, user_id=user.pk, conversation_id=conversation.pk, data=data
    )


def test_a_member_of_another_team_cannot_rate(conversation, reply, charlie, other_team):
    conversation.is_shared = True
    conversation.save()
    with pytest.raises(Http404):
        _apply(charlie, conversation, message_id=reply.pk, rating="down")
    assert not Feedback.objects.exists()


def test_a_teammate_cannot_rate_a_private_conversation_nor_a_reply_of_another(
    conversation, reply, bob, alice, team
):
    with pytest.raises(Http404):
        _apply(bob, conversation, message_id=reply.pk, rating="down")
    elsewhere = make_conversation(team, alice, title="Other")
    with pytest.raises(Http404):  # the message id of another conversation
        _apply(alice, elsewhere, message_id=reply.pk, rating="down")
    assert not Feedback.objects.exists()


def test_an_unfinished_reply_cannot_be_rated(conversation, alice, team):
    streaming = _reply(conversation, status=Message.Status.STREAMING)
    with pytest.raises(Http404):
        _apply(alice, conversation, message_id=streaming.pk, rating="up")
    with pytest.raises(ValidationError):
        _apply(alice, conversation, message_id=_reply(conversation).pk, rating=["up"])


def test_the_page_shows_the_viewers_own_rating_only(
    alice_client, bob_client, conversation, reply, bob
):
    conversation.is_shared = True
    conversation.save()
    Feedback.objects.create(message=reply, user=bob, rating="down", note="Wrong")

    mine = bob_client.get(conversation.get_absolute_url()).content.decode()
    theirs = alice_client.get(conversation.get_absolute_url()).content.decode()

    assert _thumbs(mine, reply.pk) == {"up": "false", "down": "true"}
    assert "Wrong</textarea>" in mine and "aria-label" not in mine.split("thumb-down")[0][-5:]
    assert _thumbs(theirs, reply.pk) == {"up": "false", "down": "false"}
    assert "Wrong" not in theirs


def test_details_show_the_settled_cost_and_a_dash_while_reserved(
    alice_client, conversation, reply, team, alice, settings
):
    settings.USAGE_CURRENCY = "EUR"
    pending = _reply(conversation)
    for message, cost, status in (
        (reply, "0.0125", UsageRecord.Status.SETTLED),
        (reply, "0.0100", UsageRecord.Status.SETTLED),
        (pending, "0.5", UsageRecord.Status.RESERVED),
    ):
        UsageRecord.objects.create(
            team=team,
            user=alice,
            kind=UsageRecord.Kind.CHAT,
            model="demo",
            cost=Decimal(cost),
            status=status,
            conversation=conversation,
            message=message,
            month=month_of(timezone.now()),
        )
    conversation.current_leaf = reply
    conversation.save()
    content = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert '<dd class="message-cost">0.0225 EUR</dd>' in content

    conversation.current_leaf = pending
    conversation.save()
    content = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert '<dd class="message-cost">—</dd>' in content


def _page_queries(client, conversation) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(conversation.get_absolute_url()).status_code == 200
    return len(queries)


def test_costs_and_ratings_add_no_query_per_reply(alice_client, conversation, alice, team):
    def grow(n: int) -> None:
        for _ in range(n):
            parent = conversation.current_leaf
            question = make_message(conversation, content="Q", parent=parent, author=alice)
            answer = make_message(conversation, role=ASSISTANT, content="A", parent=question)
            UsageRecord.objects.create(
                team=team,
                user=alice,
                kind=UsageRecord.Kind.CHAT,
                model="demo",
                cost=Decimal("0.01"),
                status=UsageRecord.Status.SETTLED,
                conversation=conversation,
                message=answer,
                month=month_of(timezone.now()),
            )
            Feedback.objects.create(message=answer, user=alice, rating="up")

    grow(2)
    _page_queries(alice_client, conversation)  # warms the first-run cache
    few = _page_queries(alice_client, conversation)
    grow(20)
    content = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert content.count('<dd class="message-cost">0.0100 USD</dd>') == 22
    assert content.count('aria-pressed="true"') == 22
    assert _page_queries(alice_client, conversation) == few
