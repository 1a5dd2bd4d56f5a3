"""Stop pressed in a process that does not write the reply (scale mode): forwarded over the
channel layer to the conversation's stop group, which the writing process reads whether or not
a tab of it shows the conversation; a reply whose process died is ended at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from chat import consumers, services, streaming
from chat.models import Message
from chat.streaming import Registry, registry, stop_group
from tests.factories import make_conversation
from tests.sockets import (
    TIMEOUT,
    FakeStream,
    finished,
    get_message,
    group_size,
    is_final,
    receive_until,
    send_action,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def gated_stream(monkeypatch):
    """Two tokens, then it waits (for ever unless the test opens the gate)."""
    stream = FakeStream(["Half ", "a reply", " and the rest"], gate_at=2)
    monkeypatch.setattr("gateway.chat.stream_chat", stream)
    return stream


@pytest.fixture
def another_process(monkeypatch):
    """The consumers run as if in another process: this one's generations are not theirs."""
    monkeypatch.setattr(consumers, "registry", Registry())


async def _reply_written_here(conversation, alice):
    """A reply this process writes with no tab following it (the tab that asked was closed)."""
    start = await database_sync_to_async(services.begin_reply)(
        conversation_id=conversation.pk, user=alice, action="send", text="Hi"
    )
    generation = registry.start(start, layer=get_channel_layer(), subscriber=None)
    for _ in range(500):  # joined its stop group and read the tokens before the gate
        if await group_size(stop_group(conversation.pk)) and generation.length == 12:
            break
        await asyncio.sleep(0.01)
    return generation


async def test_a_stop_sent_to_the_stop_group_stops_the_writer_with_no_tab_open(
    conversation, alice, gated_stream
):
    generation = await _reply_written_here(conversation, alice)

    event = {"type": "reply.stop", "conversation_id": str(conversation.pk)}
    await get_channel_layer().group_send(stop_group(conversation.pk), event)
    await asyncio.wait_for(finished(generation), TIMEOUT)

    message = await get_message(generation.message_id)
    assert (message.status, message.content) == (Message.Status.STOPPED, "Half a reply")
    assert await group_size(stop_group(conversation.pk)) == 0  # left when it ended


@pytest.mark.usefixtures("another_process")
async def test_stop_from_a_tab_of_another_process_stops_the_reply(
    conversation, alice, alice_socket, gated_stream
):
    generation = await _reply_written_here(conversation, alice)

    await send_action(alice_socket, "stop")
    await asyncio.wait_for(finished(generation), TIMEOUT)

    message = await get_message(generation.message_id)
    assert message.status == Message.Status.STOPPED
    frames = await receive_until(alice_socket, is_final(message.pk))  # snapshots first on Redis
    assert 'data-message-status="stopped"' in frames[-1]


async def test_stop_of_a_reply_whose_process_died_ends_it_at_once(
    conversation, alice, alice_socket
):
    start = await database_sync_to_async(services.begin_reply)(
        conversation_id=conversation.pk, user=alice, action="send", text="Hi"
    )
    long_ago = timezone.now() - timedelta(minutes=1)
    await Message.objects.filter(pk=start.assistant_id).aupdate(
        owner="d" * 32, content="Half a reply", created_at=long_ago
    )

    await send_action(alice_socket, "stop")

    frame = await alice_socket.receive_from(timeout=TIMEOUT)
    assert 'data-message-status="interrupted"' in frame and "Half a reply" in frame
    assert (await get_message(start.assistant_id)).status == Message.Status.INTERRUPTED


async def test_a_channel_that_failed_to_open_is_opened_again_for_the_next_reply(
    conversation, team, alice, gated_stream, monkeypatch
):
    layer = get_channel_layer()
    new_channel = layer.new_channel

    async def away(*args, **kwargs):
        raise ConnectionError("the channel layer is away")

    monkeypatch.setattr(layer, "new_channel", away)
    first = await _reply_written_here(conversation, alice)  # cannot join: still running
    assert await group_size(stop_group(conversation.pk)) == 0
    monkeypatch.setattr(layer, "new_channel", new_channel)
    other = await database_sync_to_async(make_conversation)(team, alice)

    second = await _reply_written_here(other, alice)
    event = {"type": "reply.stop", "conversation_id": str(other.pk)}
    await layer.group_send(stop_group(other.pk), event)
    await asyncio.wait_for(finished(second), TIMEOUT)

    assert (await get_message(second.message_id)).status == Message.Status.STOPPED
    first.stop()


async def test_a_cancelled_stop_reader_ends_at_once_though_a_reply_still_runs(
    conversation, alice, gated_stream
):
    """As the end of a test's loop, or of a process, cancels it. On Redis the read used to
    swallow a cancellation that came while it wrote (config/redis_connection.py)."""
    generation = await _reply_written_here(conversation, alice)
    reader = streaming.stop_channel._listener
    assert reader is not None and not reader.done()

    reader.cancel()
    await asyncio.wait([reader], timeout=1)

    assert reader.cancelled()
    generation.stop()
    await asyncio.wait_for(finished(generation), TIMEOUT)
