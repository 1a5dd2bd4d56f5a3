"""One user may have at most MAX_CONCURRENT_REPLIES replies being written at once, across
conversations and processes: begin_reply counts them in the database, inside its transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ValidationError
from django.utils import timezone

from chat import services
from chat.models import Message
from tests.factories import make_conversation, make_message
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    is_final,
    open_socket,
    receive_until,
    send_action,
    stop_generations,
)

BUSY = "replies being written"


def _streaming_reply(team, user, *, idle_for: timedelta = timedelta(0)) -> Message:
    """A reply being written for `user` in a conversation of their own, as another process
    would leave it in the database."""
    conversation = make_conversation(team, user)
    question = make_message(conversation, content="Hi", author=user)
    reply = make_message(
        conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, parent=question
    )
    Message.objects.filter(pk=reply.pk).update(updated_at=timezone.now() - idle_for)
    return reply


def _send(conversation, user):
    return services.begin_reply(
        conversation_id=conversation.pk, user=user, action="send", text="One more"
    )


@pytest.mark.django_db
def test_a_user_at_the_limit_cannot_start_another_reply(settings, team, alice):
    settings.MAX_CONCURRENT_REPLIES = 2
    _streaming_reply(team, alice)
    _streaming_reply(team, alice)
    conversation = make_conversation(team, alice)

    with pytest.raises(ValidationError) as refused:
        _send(conversation, alice)

    assert refused.value.code == "too_many_replies"
    assert "You already have 2 replies being written." in refused.value.messages[0]
    assert not conversation.messages.exists()  # nothing saved


@pytest.mark.django_db
def test_below_the_limit_a_reply_starts(settings, team, alice):
    settings.MAX_CONCURRENT_REPLIES = 2
    _streaming_reply(team, alice)

    start = _send(make_conversation(team, alice), alice)

    assert start.assistant.status == Message.Status.STREAMING


@pytest.mark.django_db
def test_only_live_replies_of_the_same_user_count(settings, team, alice, bob):
    settings.MAX_CONCURRENT_REPLIES = 1
    _streaming_reply(team, bob)  # someone else's
    stale = services.live_reply_window() + timedelta(seconds=1)
    _streaming_reply(team, alice, idle_for=stale)  # left by a dead process

    start = _send(make_conversation(team, alice), alice)

    assert start.assistant.status == Message.Status.STREAMING


@pytest.mark.django_db
def test_zero_turns_the_limit_off(settings, team, alice):
    settings.MAX_CONCURRENT_REPLIES = 0
    for _ in range(4):
        _streaming_reply(team, alice)

    assert _send(make_conversation(team, alice), alice).assistant.pk


@pytest.mark.django_db(transaction=True)
async def test_the_socket_refuses_a_reply_over_the_limit_and_keeps_the_text(
    settings, team, alice, alice_cookie, fake_stream
):
    settings.MAX_CONCURRENT_REPLIES = 1
    stream = fake_stream(["a", "b"], gate_at=1)
    first, second = [await database_sync_to_async(make_conversation)(team, alice) for _ in range(2)]
    tab_one, ok_one = await open_socket(first, alice_cookie)
    tab_two, ok_two = await open_socket(second, alice_cookie)
    assert ok_one and ok_two
    await tab_one.receive_from(timeout=TIMEOUT)  # idle controls
    await tab_two.receive_from(timeout=TIMEOUT)
    try:
        await send_action(tab_one, "send", text="First")
        message_id = assistant_id_in([await tab_one.receive_from(timeout=TIMEOUT)])

        await send_action(tab_two, "send", text="Second at once")
        refusal = await tab_two.receive_from(timeout=TIMEOUT)
        assert "You already have 1 reply being written." in refusal
        assert "Second at once" in refusal  # the composer keeps the text
        assert len(stream.calls) == 1

        stream.gate.set()
        await receive_until(tab_one, is_final(message_id))
        await send_action(tab_two, "send", text="Second, later")
        later_id = assistant_id_in([await tab_two.receive_from(timeout=TIMEOUT)])
        await receive_until(tab_two, is_final(later_id))
        assert len(stream.calls) == 2
    finally:
        await stop_generations()
        await tab_one.disconnect()
        await tab_two.disconnect()
