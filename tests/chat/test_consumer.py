"""ChatConsumer through the real routing (config.asgi) with the in-memory channel layer and a
patched gateway.chat.stream_chat, for exact control over what upstream sends and when."""

from __future__ import annotations

import asyncio
import html
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import reverse
from django.utils import translation

from chat import services, streaming
from chat.batching import Batcher
from chat.models import Message
from chat.streaming import registry, stop_group
from gateway.errors import GatewayConnectionLost, GatewayRateLimited
from gateway.types import ChatDelta, ChatEnd
from tests.factories import make_conversation, make_message
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    delta_texts,
    finish_generations,
    finished,
    get_message,
    group_size,
    is_delta,
    is_final,
    open_socket,
    receive_until,
    send_action,
    streamed_text,
    streamed_view,
)

pytestmark = pytest.mark.django_db(transaction=True)


# Who may connect


async def test_anonymous_users_are_refused(conversation):
    communicator, connected = await open_socket(conversation)
    assert not connected
    await communicator.disconnect()


async def test_outsiders_are_refused(conversation, charlie_cookie):
    communicator, connected = await open_socket(conversation, charlie_cookie)
    assert not connected
    await communicator.disconnect()


async def test_teammates_are_refused_on_private_conversations(conversation, bob_cookie):
    communicator, connected = await open_socket(conversation, bob_cookie)
    assert not connected
    await communicator.disconnect()


async def test_a_foreign_origin_is_refused(conversation, alice_cookie):
    communicator, connected = await open_socket(
        conversation, alice_cookie, origin=b"https://evil.example"
    )
    assert not connected
    await communicator.disconnect()


async def test_teammates_may_read_a_shared_conversation_but_not_send(
    conversation, bob_cookie, fake_stream
):
    conversation.is_shared = True
    await database_sync_to_async(conversation.save)()
    stream = fake_stream(["never"])
    communicator, connected = await open_socket(conversation, bob_cookie)
    assert connected

    await send_action(communicator, "send", text="Hi from bob")
    frame = await communicator.receive_from(timeout=TIMEOUT)

    assert "not write" in frame and 'id="live-region"' in frame
    assert not await database_sync_to_async(Message.objects.exists)()
    assert stream.calls == []
    await communicator.disconnect()


async def test_viewers_cannot_send(team, victor, victor_cookie, fake_stream):
    conversation = await database_sync_to_async(make_conversation)(team, victor)
    fake_stream(["never"])
    communicator, connected = await open_socket(conversation, victor_cookie)
    assert connected

    await send_action(communicator, "send", text="Hi")
    frame = await communicator.receive_from(timeout=TIMEOUT)

    assert "not write" in frame
    assert not await database_sync_to_async(Message.objects.exists)()
    await communicator.disconnect()


async def test_viewers_cannot_stop(team, alice, victor_cookie):
    conversation = await database_sync_to_async(make_conversation)(team, alice, is_shared=True)
    communicator, connected = await open_socket(conversation, victor_cookie)
    assert connected

    await send_action(communicator, "stop")
    frame = await communicator.receive_from(timeout=TIMEOUT)

    assert "not change" in frame
    await communicator.disconnect()


async def test_junk_frames_are_ignored(alice_socket):
    await alice_socket.send_to(text_data="not json")
    await alice_socket.send_to(text_data=json.dumps(["send"]))
    await alice_socket.send_to(text_data=json.dumps({"action": "delete_everything"}))
    assert await alice_socket.receive_nothing()

    await send_action(alice_socket, "sync")  # the socket is still alive and answering
    assert '<div id="thread"' in await alice_socket.receive_from(timeout=TIMEOUT)


# Streaming


async def test_send_streams_pieces_then_stores_the_reply(alice_socket, conversation, fake_stream):
    stream = fake_stream(["Hello", ", ", "**world**", "!"], gate_at=1)

    await send_action(alice_socket, "send", text="Say hello <please>")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    assert '<div id="thread" hx-swap-oob="beforeend">' in first
    assert "Say hello &lt;please&gt;" in first
    assert 'data-message-status="streaming"' in first
    assert (
        '<form id="composer"' in first and 'aria-describedby="composer-error"></textarea>' in first
    )
    assert '<form id="stop-form" class="stop-form" ws-send hx-swap-oob="outerHTML">' in first
    assert '<span id="conversation-title" hx-swap-oob="innerHTML">Say hello &lt;please&gt;' in first
    assert f'id="sidebar-title-{conversation.pk.hex}"' in first

    # The first token arrives while upstream is still writing.
    frame = await alice_socket.receive_from(timeout=TIMEOUT)
    assert delta_texts([frame], message_id) == ["Hello"]
    assert not stream.finished
    assert (await get_message(message_id)).status == Message.Status.STREAMING

    stream.gate.set()
    frames = await receive_until(alice_socket, is_final(message_id))
    final = frames[-1]
    assert "".join(["Hello", *delta_texts(frames, message_id)]) == "Hello, **world**!"
    assert f'<article class="message message-assistant" id="message-{message_id}"' in final
    assert 'hx-swap-oob="outerHTML"' in final and 'data-message-status="complete"' in final
    assert "<strong>world</strong>" in final
    assert "Reply finished." in final and ">Regenerate<" in final
    assert '<form id="stop-form" class="stop-form" ws-send hidden' in final

    message = await get_message(message_id)
    assert message.status == Message.Status.COMPLETE
    assert message.content == "Hello, **world**!"
    assert "<strong>world</strong>" in message.html
    assert (message.prompt_tokens, message.completion_tokens) == (11, 4)
    assert message.finish_reason == "stop"
    assert stream.calls[0]["messages"][-1] == {"role": "user", "content": "Say hello <please>"}
    assert registry.for_conversation(conversation.pk) is None


async def test_the_model_comes_from_the_conversation(team, alice, alice_cookie, fake_stream):
    conversation = await database_sync_to_async(make_conversation)(
        team, alice, model="claude-x", temperature=0.3
    )
    stream = fake_stream(["ok"])
    communicator, _ = await open_socket(conversation, alice_cookie)

    await send_action(communicator, "send", text="Hi", model="gpt-evil")
    frames = await receive_until(communicator, lambda f: 'id="live-region"' in f)

    assert stream.calls[0]["model"] == "claude-x"
    assert stream.calls[0]["temperature"] == 0.3
    assert "Reply finished." in frames[-1]
    await communicator.disconnect()


async def test_stop_keeps_the_partial_text(alice_socket, fake_stream):
    stream = fake_stream(["Partial ", "answer", " never sent"], gate_at=2)

    await send_action(alice_socket, "send", text="Go")
    frames = await receive_until(alice_socket, lambda f: "answer" in f)
    message_id = assistant_id_in(frames)
    await send_action(alice_socket, "stop")
    frames = await receive_until(alice_socket, is_final(message_id))

    assert 'data-message-status="stopped"' in frames[-1]
    assert "Reply stopped." in frames[-1] and ">Regenerate<" in frames[-1]
    message = await get_message(message_id)
    assert message.status == Message.Status.STOPPED
    assert message.content == "Partial answer"
    assert not stream.finished


async def test_a_second_tab_gets_the_text_so_far_then_the_tail(
    alice_socket, conversation, alice_cookie, fake_stream
):
    tokens = [f"t{i} " for i in range(40)]
    stream = fake_stream(tokens, gate_at=10)
    await send_action(alice_socket, "send", text="Count")
    first_frames = await receive_until(alice_socket, lambda f: "t9 " in f)
    message_id = assistant_id_in(first_frames)

    second, connected = await open_socket(conversation, alice_cookie)
    assert connected
    stream.gate.set()
    second_frames = await receive_until(second, is_final(message_id))
    first_frames += await receive_until(alice_socket, is_final(message_id))

    final_text = "".join(tokens)
    assert (await get_message(message_id)).content == final_text
    assert 'data-message-status="streaming"' in second_frames[0]  # the snapshot
    assert html.unescape(second_frames[0]).count("t0 ") == 1
    assert streamed_text(second_frames, message_id) == final_text
    assert streamed_text(first_frames, message_id) == final_text
    await second.disconnect()


async def test_a_reply_goes_on_when_its_only_tab_closes(conversation, alice_cookie, fake_stream):
    stream = fake_stream(["Still ", "written"], gate_at=1)
    communicator, _ = await open_socket(conversation, alice_cookie)
    await communicator.receive_from(timeout=TIMEOUT)
    await send_action(communicator, "send", text="Go")
    frames = await receive_until(communicator, lambda f: "Still" in f and "beforeend" in f)
    message_id = assistant_id_in(frames)

    await communicator.disconnect()
    stream.gate.set()
    await finish_generations()

    message = await get_message(message_id)
    assert message.status == Message.Status.COMPLETE
    assert message.content == "Still written"


async def test_a_second_send_while_streaming_is_refused_kindly(alice_socket, fake_stream):
    stream = fake_stream(["a", "b"], gate_at=1)
    await send_action(alice_socket, "send", text="First")
    frames = await receive_until(alice_socket, lambda f: "beforeend" in f and ">a<" in f)
    message_id = assistant_id_in(frames)

    await send_action(alice_socket, "send", text="Second")
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert "still being written" in frame
    stream.gate.set()
    await receive_until(alice_socket, is_final(message_id))
    contents = await database_sync_to_async(
        lambda: list(Message.objects.filter(role="user").values_list("content", flat=True))
    )()
    assert contents == ["First"]


async def test_another_tab_follows_a_reply_started_elsewhere(
    alice_socket, conversation, alice_cookie, fake_stream
):
    stream = fake_stream(["x", "y"], gate_at=1)
    watcher, _ = await open_socket(conversation, alice_cookie)
    await watcher.receive_from(timeout=TIMEOUT)  # idle controls

    await send_action(alice_socket, "send", text="Hi")
    thread = await watcher.receive_from(timeout=TIMEOUT)
    assert '<div id="thread" class="thread"' in thread and 'hx-swap-oob="outerHTML"' in thread
    assert "Hi</div>" in thread
    snapshot = await watcher.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([snapshot])
    stream.gate.set()
    frames = await receive_until(watcher, is_final(message_id))

    assert streamed_text([snapshot, *frames], message_id) == "xy"
    assert "Reply finished." in frames[-1]
    await watcher.disconnect()


# Versions


async def test_regenerate_adds_a_version_and_keeps_the_old_one(
    alice_socket, conversation, fake_stream
):
    question = await database_sync_to_async(make_message)(conversation, content="Q")
    old = await database_sync_to_async(make_message)(
        conversation, role="assistant", content="Old", parent=question
    )
    fake_stream(["New"])

    await send_action(alice_socket, "regenerate", message_id=str(old.pk))
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    frames = await receive_until(alice_socket, is_final(message_id))

    assert '<div id="thread" class="thread"' in first and "2 / 2" in first
    assert "2 / 2" in frames[-1]
    new = await get_message(message_id)
    assert (new.parent_id, new.content, new.status) == (question.pk, "New", "complete")
    assert (await get_message(old.pk)).content == "Old"


async def test_edit_adds_a_version_of_the_question(alice_socket, conversation, fake_stream):
    question = await database_sync_to_async(make_message)(conversation, content="Old Q")
    await database_sync_to_async(make_message)(
        conversation, role="assistant", content="Old A", parent=question
    )
    stream = fake_stream(["New A"])

    await send_action(alice_socket, "edit", message_id=str(question.pk), text="New Q")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    await receive_until(alice_socket, is_final(message_id))

    assert "New Q" in first and "Old Q" not in first and "2 / 2" in first
    assert stream.calls[0]["messages"][-1]["content"] == "New Q"
    count = await database_sync_to_async(Message.objects.filter(role="user").count)()
    assert count == 2


# Failures


@pytest.mark.parametrize(
    ("end", "error"),
    [
        (ChatEnd(None, None), None),
        (None, GatewayConnectionLost("cut")),
    ],
)
async def test_interrupted_replies_keep_their_text_and_offer_retry(
    alice_socket, fake_stream, end, error
):
    fake_stream(["Half ", "an answer"], end=end, error=error)

    await send_action(alice_socket, "send", text="Go")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    frames = await receive_until(alice_socket, is_final(message_id))

    message = await get_message(message_id)
    assert message.status == Message.Status.INTERRUPTED
    assert message.content == "Half an answer"
    assert 'data-message-status="interrupted"' in frames[-1]
    assert 'class="message-error"' in frames[-1] and ">Retry<" in frames[-1]


async def test_gateway_errors_keep_the_question_and_fail_the_reply(alice_socket, fake_stream):
    fake_stream([], error=GatewayRateLimited("429 <b>", status=429))

    await send_action(alice_socket, "send", text="Important question")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    frames = await receive_until(alice_socket, is_final(message_id))

    message = await get_message(message_id)
    assert message.status == Message.Status.FAILED
    assert message.error == "The gateway is rate limiting requests; try again in a moment."
    assert message.error in frames[-1] and ">Retry<" in frames[-1]
    user_message = await database_sync_to_async(Message.objects.get)(role="user")
    assert user_message.content == "Important question"


async def test_retry_after_a_failure(alice_socket, fake_stream):
    fake_stream([], error=GatewayRateLimited("429", status=429))
    await send_action(alice_socket, "send", text="Q")
    failed_id = assistant_id_in([await alice_socket.receive_from(timeout=TIMEOUT)])
    await receive_until(alice_socket, is_final(failed_id))

    stream = fake_stream(["Better"])
    await send_action(alice_socket, "retry", message_id=str(failed_id))
    message_id = assistant_id_in([await alice_socket.receive_from(timeout=TIMEOUT)])
    await receive_until(alice_socket, is_final(message_id))

    assert (await get_message(message_id)).content == "Better"
    assert stream.calls[0]["messages"] == [{"role": "user", "content": "Q"}]
    assert (await get_message(failed_id)).status == Message.Status.FAILED


@pytest.mark.parametrize("text", ["", "   "])
async def test_empty_messages_get_a_form_error(alice_socket, fake_stream, text):
    stream = fake_stream(["never"])

    await send_action(alice_socket, "send", text=text)
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert '<form id="composer"' in frame and 'class="field-error"' in frame
    assert "Write a message first." in frame
    assert not await database_sync_to_async(Message.objects.exists)()
    assert stream.calls == []


async def test_over_long_messages_get_a_form_error_and_keep_the_text(
    alice_socket, fake_stream, settings
):
    settings.MESSAGE_MAX_CHARS = 20
    fake_stream(["never"])

    await send_action(alice_socket, "send", text="A <long> message, too long")
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert "too long" in frame
    assert ">A &lt;long&gt; message, too long</textarea>" in frame
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_a_late_end_of_the_last_reply_leaves_the_next_one_streaming(
    alice_socket, conversation, fake_stream
):
    fake_stream(["Done."])
    await send_action(alice_socket, "send", text="First")
    frames = await receive_until(alice_socket, lambda f: "Reply finished." in f)
    first_id = assistant_id_in(frames)
    stream = fake_stream(["Still ", "going"], gate_at=1)
    await send_action(alice_socket, "send", text="Second")
    await receive_until(alice_socket, is_delta)
    # The first reply's end, announced through the group, arrives only now (a slow layer):
    # this tab had its final frame from the generation; a second one would put the idle
    # controls and "Reply finished." over the reply that streams.
    layer = get_channel_layer()
    await layer.group_send(
        conversation.group_name, {"type": "reply.finished", "message_id": first_id}
    )
    await layer.group_send(
        conversation.group_name, {"type": "reply.started", "message_id": first_id}
    )

    assert await alice_socket.receive_nothing(timeout=0.3)
    stream.gate.set()
    frames = await receive_until(alice_socket, lambda f: "Reply finished." in f)
    assert assistant_id_in(frames) != first_id


# Another process (scale mode) writing the reply: only control events and snapshots arrive.


async def test_a_tab_follows_a_reply_written_by_another_process(alice_socket, conversation):
    question = await database_sync_to_async(make_message)(conversation, content="Q")
    reply = await database_sync_to_async(make_message)(
        conversation, role="assistant", content="", status="streaming", parent=question
    )
    layer = get_channel_layer()
    group = conversation.group_name

    await layer.group_send(group, {"type": "reply.started", "message_id": reply.pk})
    started = await alice_socket.receive_from(timeout=TIMEOUT)
    snapshot = {"type": "reply.snapshot", "message_id": reply.pk, "content": "So <far>"}
    await layer.group_send(group, snapshot)
    shown = await alice_socket.receive_from(timeout=TIMEOUT)
    await database_sync_to_async(services.finish_reply)(
        message_id=reply.pk, content="So <far> and done", html="", status=Message.Status.COMPLETE
    )
    await layer.group_send(group, {"type": "reply.finished", "message_id": reply.pk})
    final = await alice_socket.receive_from(timeout=TIMEOUT)

    assert '<div id="thread" class="thread"' in started
    assert '<form id="stop-form" class="stop-form" ws-send hx-swap-oob="outerHTML">' in started
    assert f'id="message-{reply.pk}-text">So &lt;far&gt;</div>' in shown
    assert 'data-message-status="complete"' in final and "So &lt;far&gt; and done" in final
    assert (
        "Reply finished." in final
        and '<form id="stop-form" class="stop-form" ws-send hidden' in final
    )


async def test_stop_reaches_the_process_writing_the_reply(alice_socket, conversation, fake_stream):
    fake_stream(["a", "b"], gate_at=1)
    await send_action(alice_socket, "send", text="Go")
    frames = await receive_until(alice_socket, is_delta)
    message_id = assistant_id_in(frames)

    # Sent where another process's Stop goes (chat.streaming.stop_group), not to the tabs,
    # once the generation has joined it (beside its upstream request, not before it).
    while not await group_size(stop_group(conversation.pk)):
        await asyncio.sleep(0.01)
    event = {"type": "reply.stop", "conversation_id": str(conversation.pk)}
    await get_channel_layer().group_send(stop_group(conversation.pk), event)
    await receive_until(alice_socket, is_final(message_id))

    assert (await get_message(message_id)).status == Message.Status.STOPPED


# Loose ends: a reply whose storing fails, a conversation deleted while its reply streams


async def test_a_reply_that_cannot_be_stored_fails_and_does_not_block(
    alice_socket, fake_stream, monkeypatch
):
    fake_stream(["Lost", " words"])

    def broken_finish_replies(ends):
        raise RuntimeError("database went away")

    monkeypatch.setattr(streaming, "final_save", Batcher(broken_finish_replies))
    await send_action(alice_socket, "send", text="First")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    frames = await receive_until(alice_socket, is_final(message_id))

    message = await get_message(message_id)
    assert message.status == Message.Status.FAILED  # not left "streaming"
    assert message.error == "The reply could not be saved."
    assert "The reply could not be saved." in frames[-1]
    assert 'data-message-status="failed"' in frames[-1]

    monkeypatch.undo()
    fake_stream(["Saved"])
    await send_action(alice_socket, "send", text="Second")
    second = await alice_socket.receive_from(timeout=TIMEOUT)
    second_id = assistant_id_in([second])  # accepted: a new reply, not "still being written"
    await receive_until(alice_socket, is_final(second_id))
    assert (await get_message(second_id)).content == "Saved"


class Upstream:
    """A gateway stream that records whether it was closed before its end: one token, then
    `more` after `gate` opens (never, unless a test opens it)."""

    def __init__(self, more: int = 0) -> None:
        self.gate = asyncio.Event()
        self.more = more
        self.closed = self.read_to_end = False

    async def __call__(self, **kwargs):
        try:
            yield ChatDelta(content="first ")
            await self.gate.wait()
            for i in range(self.more):
                yield ChatDelta(content=f"{i} ")
            self.read_to_end = True
            yield ChatEnd("stop", None)
        finally:
            self.closed = True


async def test_deleting_a_conversation_stops_its_reply_and_closes_the_upstream(
    alice_socket, conversation, alice, monkeypatch
):
    upstream = Upstream()
    monkeypatch.setattr("gateway.chat.stream_chat", upstream)
    await send_action(alice_socket, "send", text="Go")
    await receive_until(alice_socket, is_delta)
    generation = registry.for_conversation(conversation.pk)

    url = reverse("chat:delete", args=[conversation.pk])
    assert await database_sync_to_async(_post_as)(alice, url) == 302
    await asyncio.wait_for(finished(generation), TIMEOUT)

    assert upstream.closed and not upstream.read_to_end
    assert registry.for_conversation(conversation.pk) is None
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_a_teammate_losing_access_does_not_stop_the_creators_reply(
    alice_socket, conversation, alice, bob_cookie, monkeypatch
):
    conversation.is_shared = True
    await database_sync_to_async(conversation.save)()
    bobs_tab, connected = await open_socket(conversation, bob_cookie)
    assert connected
    upstream = Upstream(more=2)
    monkeypatch.setattr("gateway.chat.stream_chat", upstream)
    await send_action(alice_socket, "send", text="Go")
    await receive_until(alice_socket, is_delta)

    url = reverse("chat:unshare", args=[conversation.pk])
    assert await database_sync_to_async(_post_as)(alice, url) == 302
    while (await bobs_tab.receive_output(timeout=TIMEOUT))["type"] != "websocket.close":
        pass  # the frames of alice's reply, until bob's tab is closed
    upstream.gate.set()
    frames = await receive_until(alice_socket, lambda frame: 'id="live-region"' in frame)

    assert "Reply finished." in frames[-1] and upstream.read_to_end
    await bobs_tab.disconnect()


def _post_as(user, url: str) -> int:
    client = Client()
    client.force_login(user)
    return client.post(url).status_code


async def test_frames_are_rendered_in_the_language_of_the_page(
    conversation, alice_cookie, monkeypatch
):
    languages = []

    def controls_html(**kwargs) -> str:
        languages.append(translation.get_language())
        return "<p>controls</p>"

    monkeypatch.setattr("chat.frames.controls_html", controls_html)
    communicator, _ = await open_socket(conversation, alice_cookie + b"; django_language=zh-hans")
    await communicator.receive_from(timeout=TIMEOUT)

    assert languages == ["zh-hans"]
    await communicator.disconnect()


# A tab that comes back after a dropped connection


async def test_sync_resends_the_stored_thread_after_a_reply_ended_unseen(
    alice_socket, conversation
):
    question = await database_sync_to_async(make_message)(conversation, content="Q")
    await database_sync_to_async(make_message)(
        conversation, role="assistant", content="Finished while away", parent=question
    )

    await send_action(alice_socket, "sync")
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert '<div id="thread"' in frame and 'hx-swap-oob="outerHTML"' in frame
    assert "Finished while away" in frame and 'data-message-status="complete"' in frame
    assert (
        'id="composer-send"' in frame
        and "disabled" not in frame.split('id="composer-send"')[1][:80]
    )


async def test_sync_during_a_reply_gives_the_text_so_far_then_the_tail(alice_socket, fake_stream):
    stream = fake_stream(["Hel", "lo"], gate_at=1)
    await send_action(alice_socket, "send", text="Hi")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    await receive_until(alice_socket, is_delta)

    await send_action(alice_socket, "sync")
    snapshot = await alice_socket.receive_from(timeout=TIMEOUT)
    stream.gate.set()
    frames = await receive_until(alice_socket, is_final(message_id))

    assert f'id="message-{message_id}"' in snapshot and "Hel" in snapshot
    assert "Hello" in frames[-1]


# Live rendering: complete blocks arrive rendered while the reply streams

TABLE_REPLY = ["Intro\n\n", "| a | b |\n", "|---|---|\n", "| 1 | 2 |\n", "\n", "Still ", "writing"]


def _has_table(message_id: int):
    blocks = f'<div id="message-{message_id}-blocks" hx-swap-oob="beforeend">'
    return lambda frame: blocks in frame and "<table>" in frame.split(blocks, 1)[1]


async def test_a_complete_table_is_a_table_while_the_reply_streams(alice_socket, fake_stream):
    stream = fake_stream(TABLE_REPLY, gate_at=6)
    await send_action(alice_socket, "send", text="A table please")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])

    frames = [first, *await receive_until(alice_socket, _has_table(message_id))]
    message = await get_message(message_id)
    assert message.status == Message.Status.STREAMING  # the reply is held at the gate
    blocks, tail = streamed_view(frames, message_id)
    assert blocks == "<p>Intro</p>\n<table>\n" + blocks.split("<table>\n", 1)[1]
    assert blocks.endswith("</table>\n") and tail == "Still "

    # A tab that syncs meanwhile gets the same rendered prefix and tail.
    await send_action(alice_socket, "sync")
    snapshot = await alice_socket.receive_from(timeout=TIMEOUT)
    assert 'data-message-status="streaming"' in snapshot
    assert streamed_view([snapshot], message_id) == (blocks, tail)

    stream.gate.set()
    final = await receive_until(alice_socket, is_final(message_id))
    stored = (await get_message(message_id)).html
    assert stored == blocks + "<p>Still writing</p>\n"  # the final swap keeps the blocks
    assert 'data-message-status="complete"' in final[-1]


async def test_a_tab_of_another_process_gets_the_same_rendered_prefix(alice_socket, conversation):
    question = await database_sync_to_async(make_message)(conversation, content="Q")
    reply = await database_sync_to_async(make_message)(
        conversation, role="assistant", content="", status="streaming", parent=question
    )
    layer = get_channel_layer()
    content = "".join(TABLE_REPLY)
    event = {"type": "reply.snapshot", "message_id": reply.pk, "content": content}

    await layer.group_send(conversation.group_name, event)
    shown = await alice_socket.receive_from(timeout=TIMEOUT)

    blocks, tail = streamed_view([shown], reply.pk)
    assert blocks.startswith("<p>Intro</p>\n<table>") and tail == "Still writing"
    assert 'data-message-status="streaming"' in shown
