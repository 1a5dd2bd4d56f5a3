"""gateway.completions: POST /v1/completions, streamed, in the text shape and the chat shape."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.completions import stream_completion
from gateway.errors import (
    GatewayAuthError,
    GatewayConnectionLost,
    GatewayError,
    GatewayStreamError,
    GatewayUnavailable,
)
from gateway.types import ChatDelta, ChatEnd, Usage
from tests.gateway.fakes import API_KEY, DONE, USAGE, USAGE_CHUNK, chunk, respond, respond_json


def text_chunk(text: str, finish_reason: str | None = None, **extra) -> bytes:
    """One event of a legacy completion stream (`choices[0].text`)."""
    data = {
        "id": "cmpl-123",
        "object": "text_completion",
        "created": 1694268190,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


# new-api's synthesised usage chunk on this route is chat-shaped (USAGE_CHUNK: "object":
# "chat.completion.chunk", "choices": []); a text-shaped one carries "choices": [] too.
TEXT_USAGE_CHUNK = (
    b'data: {"id":"cmpl-123","object":"text_completion","choices":[],"usage":'
    + json.dumps(USAGE).encode()
    + b"}\n\n"
)
TEXT_STREAM = b"".join(
    [
        b": PING\n\n",
        text_chunk("Once upon"),
        text_chunk(" a time, 你好"),
        text_chunk("", "stop"),
        USAGE_CHUNK,
        DONE,
    ]
)
CHAT_SHAPED_STREAM = b"".join(
    [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Once upon"}),
        chunk({"content": " a time, 你好"}),
        chunk({}, "stop"),
        TEXT_USAGE_CHUNK,
        DONE,
    ]
)
EXPECTED = [
    ChatDelta(content="Once upon"),
    ChatDelta(content=" a time, 你好"),
    ChatEnd(finish_reason="stop", usage=Usage(**USAGE)),
]


async def collect(**kwargs) -> tuple[list[ChatDelta | ChatEnd], GatewayError | None]:
    kwargs = {"model": "gpt-3.5-turbo-instruct", "prompt": "Once", "max_tokens": 16, **kwargs}
    items: list[ChatDelta | ChatEnd] = []
    try:
        async for item in stream_completion(**kwargs):
            items.append(item)
    except GatewayError as exc:
        return items, exc
    return items, None


def split_everywhere(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


@pytest.mark.parametrize("stream", [TEXT_STREAM, CHAT_SHAPED_STREAM], ids=["text", "chat"])
async def test_both_chunk_shapes_stream_the_text_and_the_usage(gateway, stream):
    gateway.reply(respond(200, split_everywhere(stream, 5)))
    items, error = await collect()
    assert error is None
    assert items == EXPECTED


async def test_it_sends_prompt_max_tokens_temperature_and_stop(gateway):
    gateway.reply(respond(200, [TEXT_STREAM]))
    await collect(prompt="Write a haiku", max_tokens=64, temperature=0.2, stop=["\n\n", "END"])
    request = gateway.requests[0]
    assert request.method == "POST"
    assert request.url == "https://gw.example/v1/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.content) == {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": "Write a haiku",
        "max_tokens": 64,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "stop": ["\n\n", "END"],
    }


async def test_no_stop_and_no_temperature_are_left_out(gateway):
    gateway.reply(respond(200, [TEXT_STREAM]))
    await collect(stop=[])
    body = json.loads(gateway.requests[0].content)
    assert "stop" not in body
    assert "temperature" not in body


async def test_at_most_four_stop_sequences_go_upstream(gateway):
    gateway.reply(respond(200, [TEXT_STREAM]))
    await collect(stop=["a", "", "b", "c", "d", "e"])
    assert json.loads(gateway.requests[0].content)["stop"] == ["a", "b", "c", "d"]


async def test_length_is_the_finish_reason_when_max_tokens_ran_out(gateway):
    gateway.reply(respond(200, [text_chunk("Once"), text_chunk(" upon", "length"), DONE]))
    items, error = await collect()
    assert error is None
    assert items[-1] == ChatEnd(finish_reason="length", usage=None)


async def test_a_gateway_that_ignores_stream_true_still_works(gateway):
    body = {
        "id": "cmpl-1",
        "object": "text_completion",
        "choices": [{"text": "Whole answer", "index": 0, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    gateway.reply(respond_json(200, body))
    items, error = await collect()
    assert error is None
    assert items == [ChatDelta(content="Whole answer"), ChatEnd("stop", Usage(**USAGE))]


async def test_a_stream_cut_before_done_raises_after_the_deltas(gateway):
    gateway.reply(respond(200, [text_chunk("Once"), text_chunk(" upon")]))
    items, error = await collect()
    assert items == [ChatDelta(content="Once"), ChatDelta(content=" upon")]
    assert isinstance(error, GatewayConnectionLost)


async def test_an_error_event_inside_the_stream_raises(gateway):
    error_event = b'data: {"error":{"message":"upstream broke","type":"upstream_error"}}\n\n'
    gateway.reply(respond(200, [text_chunk("Once"), error_event, DONE]))
    items, error = await collect()
    assert items == [ChatDelta(content="Once")]
    assert isinstance(error, GatewayStreamError)


@pytest.mark.parametrize(
    ("status", "cls"), [(401, GatewayAuthError), (503, GatewayUnavailable)], ids=["401", "503"]
)
async def test_errors_before_the_stream_are_mapped_as_on_the_chat_route(gateway, status, cls):
    gateway.reply(respond_json(status, {"error": {"message": "no", "type": "new_api_error"}}))
    items, error = await collect()
    assert items == []
    assert isinstance(error, cls)


async def test_a_dropped_connection_before_the_answer_is_an_error(gateway):
    gateway.raise_(httpx.ConnectError("refused"))
    items, error = await collect()
    assert items == []
    assert isinstance(error, GatewayError)
