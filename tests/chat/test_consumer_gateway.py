"""End to end: the websocket, the real gateway client and the demo gateway on a loopback socket."""

from __future__ import annotations

import logging

import pytest
from channels.db import database_sync_to_async

from chat.models import Message
from demo_gateway import reply_text
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    get_message,
    is_delta,
    is_final,
    open_socket,
    receive_until,
    send_action,
    streamed_matches,
    streamed_text,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def _reply(socket, text: str) -> tuple[int, list[str]]:
    await send_action(socket, "send", text=text)
    first = await socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    return message_id, [first, *await receive_until(socket, is_final(message_id))]


async def test_a_reply_streams_from_the_gateway(alice_socket, demo_gateway):
    demo_gateway.scenario = "fixed_tokens:200"

    message_id, frames = await _reply(alice_socket, "Tell me something")

    message = await get_message(message_id)
    assert message.status == Message.Status.COMPLETE
    assert message.content.count(" ") == 200
    assert message.content == reply_text("fixed_tokens:200", "Tell me something")
    assert streamed_text(frames, message_id) == message.content
    assert message.html.startswith("<p>")
    assert message.completion_tokens == 200 and message.prompt_tokens
    assert message.finish_reason == "stop"
    assert demo_gateway.requests[-1].json["messages"][-1]["content"] == "Tell me something"
    assert "Reply finished." in frames[-1]


async def test_a_second_tab_joins_a_gateway_stream_without_loss(
    alice_socket, conversation, alice_cookie, demo_gateway
):
    demo_gateway.scenario = "fixed_tokens:200"
    demo_gateway.token_delay = 0.005  # long enough for a second tab to join midway

    await send_action(alice_socket, "send", text="Go")
    first = await receive_until(alice_socket, is_delta)
    message_id = assistant_id_in(first)
    second, _ = await open_socket(conversation, alice_cookie)
    second_frames = await receive_until(second, is_final(message_id))
    await receive_until(alice_socket, is_final(message_id))

    message = await get_message(message_id)
    assert 'data-message-status="streaming"' in second_frames[0]
    assert streamed_text(second_frames, message_id) == message.content
    await second.disconnect()


@pytest.mark.parametrize("scenario", ["cut", "done_no_finish"])
async def test_interrupted_streams_are_kept_and_marked(alice_socket, demo_gateway, scenario):
    demo_gateway.scenario = scenario

    message_id, frames = await _reply(alice_socket, "Go")

    message = await get_message(message_id)
    assert message.status == Message.Status.INTERRUPTED
    assert message.content
    assert streamed_matches(frames, message_id, message.content)
    assert 'data-message-status="interrupted"' in frames[-1] and ">Retry<" in frames[-1]


async def test_a_marker_in_the_message_selects_the_scenario(alice_socket, demo_gateway):
    message_id, _frames = await _reply(alice_socket, "Please [demo:cut]")

    assert (await get_message(message_id)).status == Message.Status.INTERRUPTED


async def test_a_stream_error_keeps_the_partial_text(alice_socket, demo_gateway):
    demo_gateway.scenario = "stream_error"

    message_id, frames = await _reply(alice_socket, "Go")

    message = await get_message(message_id)
    assert message.status == Message.Status.FAILED
    assert message.content and message.error
    assert ">Retry<" in frames[-1]


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ("http_401", "API key"),
        ("http_429", "rate limiting"),
        ("http_502_html", "unavailable"),
        ("html_200", "web page"),
        ("timeout", "did not answer in time"),
    ],
)
async def test_gateway_errors_fail_the_reply_in_plain_words(
    alice_socket, demo_gateway, settings, scenario, words
):
    settings.GATEWAY_READ_TIMEOUT = 0.3
    demo_gateway.scenario = scenario

    message_id, frames = await _reply(alice_socket, "My question")

    message = await get_message(message_id)
    assert message.status == Message.Status.FAILED
    assert words in message.error
    assert "sk-" not in message.error
    assert 'class="message-error"' in frames[-1] and ">Retry<" in frames[-1]
    question = await database_sync_to_async(Message.objects.get)(role="user")
    assert question.content == "My question"


async def test_stop_cuts_a_gateway_stream(alice_socket, demo_gateway):
    demo_gateway.scenario = "slow"
    demo_gateway.token_delay = 0.02

    await send_action(alice_socket, "send", text="Go")
    frames = await receive_until(alice_socket, is_delta)
    message_id = assistant_id_in(frames)
    await send_action(alice_socket, "stop")
    frames += await receive_until(alice_socket, is_final(message_id))

    message = await get_message(message_id)
    assert message.status == Message.Status.STOPPED
    assert message.content and streamed_matches(frames, message_id, message.content)
    assert len(message.content) < len(reply_text("slow", "Go"))


async def test_a_reasoning_model_says_it_is_thinking_then_keeps_its_reasoning(
    alice_socket, demo_gateway
):
    demo_gateway.scenario = "reasoning"

    message_id, frames = await _reply(alice_socket, "Think first")

    status = f'<span id="message-{message_id}-status" hx-swap-oob="innerHTML">Thinking…</span>'
    assert sum(status in frame for frame in frames) == 1
    writing = status.replace("Thinking…", "Writing…")
    assert sum(writing in frame for frame in frames) == 1  # back to writing with the answer
    first_delta = next(i for i, frame in enumerate(frames) if is_delta(frame))
    assert any(status in frame for frame in frames[:first_delta])
    message = await get_message(message_id)
    assert message.reasoning
    assert message.html.startswith('<details class="reasoning">')
    assert 'class="reasoning"' in frames[-1]


async def test_each_reply_leaves_one_log_line_for_operators(alice_socket, demo_gateway, caplog):
    demo_gateway.scenario = "fixed_tokens:12"

    with caplog.at_level(logging.INFO, logger="chat.streaming"):
        message_id, _frames = await _reply(alice_socket, "Count for me")

    lines = [r.getMessage() for r in caplog.records if r.name == "chat.streaming"]
    assert len(lines) == 1
    assert lines[0].startswith(f"reply {message_id} ")
    assert "model=gpt-4o-mini status=complete finish=stop" in lines[0]
    assert "tokens=" in lines[0] and "/12 " in lines[0]
