from __future__ import annotations

import json
import logging

import httpx
import pytest
from asgiref.sync import sync_to_async

from chat.models import Message
from gateway.chat import MAX_TOKEN_COUNT, stream_chat
from gateway.errors import (
    GatewayAuthError,
    GatewayBadResponse,
    GatewayConnectionLost,
    GatewayError,
    GatewayNotConfigured,
    GatewayQuotaError,
    GatewayRateLimited,
    GatewayStreamError,
    GatewayTimeout,
    GatewayUnavailable,
)
from gateway.types import ChatDelta, ChatEnd, Usage
from tests.factories import make_conversation
from tests.gateway.fakes import (
    API_KEY,
    DONE,
    NORMAL_STREAM,
    USAGE,
    USAGE_CHUNK,
    chunk,
    respond,
    respond_json,
)

MESSAGES = [{"role": "user", "content": "Hi"}]


async def collect(**kwargs) -> tuple[list[ChatDelta | ChatEnd], GatewayError | None]:
    items: list[ChatDelta | ChatEnd] = []
    kwargs.setdefault("model", "gpt-4o-mini")
    try:
        async for item in stream_chat(messages=MESSAGES, **kwargs):
            items.append(item)
    except GatewayError as exc:
        return items, exc
    return items, None


def split_everywhere(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


async def test_it_streams_deltas_then_one_end(gateway):
    gateway.reply(respond(200, split_everywhere(NORMAL_STREAM, 7)))
    items, error = await collect()
    assert error is None
    assert items == [
        ChatDelta(content="你好"),
        ChatDelta(content=", world 🎵"),
        ChatEnd(finish_reason="stop", usage=Usage(**USAGE)),
    ]


async def test_it_sends_the_request_the_gateway_expects(gateway):
    gateway.reply(respond(200, [NORMAL_STREAM]))
    await collect(model="claude-3-5-sonnet", temperature=0.3)
    request = gateway.requests[0]
    assert request.method == "POST"
    assert request.url == "https://gw.example/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(request.content) == {
        "model": "claude-3-5-sonnet",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.3,
    }


async def test_it_leaves_temperature_to_the_model_by_default(gateway):
    gateway.reply(respond(200, [NORMAL_STREAM]))
    await collect()
    assert "temperature" not in json.loads(gateway.requests[0].content)


async def test_it_takes_finish_reason_from_the_last_content_chunk(gateway):
    stream = chunk({"content": "Hi"}) + chunk({"content": "!"}, "length") + DONE
    gateway.reply(respond(200, [stream]))
    items, error = await collect()
    assert error is None
    assert items[-1] == ChatEnd(finish_reason="length", usage=None)


async def test_done_without_finish_reason_ends_as_interrupted(gateway):
    gateway.reply(respond(200, [chunk({"content": "Hal"}), USAGE_CHUNK, DONE]))
    items, error = await collect()
    assert error is None
    assert items[0] == ChatDelta(content="Hal")
    assert items[-1].finish_reason is None
    assert items[-1].usage == Usage(**USAGE)


async def test_a_stream_cut_before_done_raises_after_the_deltas(gateway):
    gateway.reply(respond(200, [chunk({"content": "Hel"}), chunk({"content": "lo"})]))
    items, error = await collect()
    assert items == [ChatDelta(content="Hel"), ChatDelta(content="lo")]
    assert isinstance(error, GatewayConnectionLost)
    assert error.user_message == (
        "The connection to the gateway was lost before the reply finished."
    )


@pytest.mark.parametrize(
    "failure", [httpx.ReadError("reset"), httpx.RemoteProtocolError("incomplete chunked read")]
)
async def test_a_dropped_connection_mid_stream_is_a_lost_connection(gateway, failure):
    gateway.reply(respond(200, [chunk({"content": "Hel"}), b'data: {"cho'], error=failure))
    items, error = await collect()
    assert items == [ChatDelta(content="Hel")]
    assert isinstance(error, GatewayConnectionLost)
    assert isinstance(error.__cause__, type(failure))


async def test_a_read_timeout_mid_stream_is_a_timeout(gateway):
    gateway.reply(respond(200, [chunk({"content": "Hel"})], error=httpx.ReadTimeout("slow")))
    items, error = await collect()
    assert items == [ChatDelta(content="Hel")]
    assert isinstance(error, GatewayTimeout)
    assert error.user_message == "The gateway did not answer in time."


async def test_done_without_a_trailing_newline_still_ends_the_stream(gateway):
    stream = chunk({"content": "🎵"}) + b"data: [DONE]"  # Suno-API style
    gateway.reply(respond(200, [stream]))
    items, error = await collect()
    assert error is None
    assert items == [ChatDelta(content="🎵"), ChatEnd(None, None)]


async def test_suno_style_one_char_chunks_without_role_or_finish(gateway):
    text = "生成中…🎵"
    stream = b"".join(chunk({"content": char}) for char in text) + DONE
    gateway.reply(respond(200, split_everywhere(stream, 5)))
    items, error = await collect(model="suno-v3.5")
    assert error is None
    assert "".join(i.content for i in items if isinstance(i, ChatDelta)) == text
    assert items[-1].finish_reason is None


async def test_it_yields_reasoning_deltas(gateway):
    stream = (
        chunk({"role": "assistant", "content": None, "reasoning_content": "Think"})
        + chunk({"reasoning": "ing…"})
        + chunk({"content": "Answer", "reasoning_content": None})
        + chunk({}, "stop")
        + DONE
    )
    gateway.reply(respond(200, [stream]))
    items, _ = await collect(model="deepseek-reasoner")
    assert items[:3] == [
        ChatDelta(reasoning="Think"),
        ChatDelta(reasoning="ing…"),
        ChatDelta(content="Answer"),
    ]


async def test_tool_call_deltas_do_not_break_the_stream(gateway):
    call = {"index": 0, "id": "call_abc", "type": "function", "function": {"name": "f"}}
    stream = (
        chunk({"role": "assistant", "content": None, "tool_calls": [call]})
        + chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})
        + chunk({}, "tool_calls")
        + DONE
    )
    gateway.reply(respond(200, [stream]))
    items, error = await collect()
    assert error is None
    assert items == [ChatEnd("tool_calls", None)]


async def test_an_error_event_inside_the_stream_raises(gateway):
    error_event = (
        b'data: {"error":{"message":"upstream overloaded (request id: 1)","type":"x"}}\n\n'
    )
    gateway.reply(respond(200, [chunk({"content": "Hi"}), error_event, DONE]))
    items, error = await collect()
    assert items == [ChatDelta(content="Hi")]
    assert isinstance(error, GatewayStreamError)
    assert error.user_message == "The gateway reported an error: upstream overloaded"


async def test_a_malformed_event_is_a_bad_response(gateway):
    gateway.reply(respond(200, [chunk({"content": "Hi"}), b"data: {not json\n\n", DONE]))
    items, error = await collect()
    assert items == [ChatDelta(content="Hi")]
    assert isinstance(error, GatewayBadResponse)


def json_error(status: int, message: str, code: object = None) -> httpx.Response:
    return respond_json(
        status, {"error": {"message": message, "type": "new_api_error", "code": code}}
    )


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (json_error(401, "无效的令牌"), GatewayAuthError),
        (json_error(403, "该令牌无权访问模型"), GatewayAuthError),
        (json_error(403, "用户额度不足", "insufficient_user_quota"), GatewayQuotaError),
        (json_error(429, "您的请求过于频繁"), GatewayRateLimited),
        (respond(429, [], content_type=None), GatewayRateLimited),
        (json_error(500, "get_channel_failed"), GatewayUnavailable),
        (
            respond(502, [b"<html>502 Bad Gateway</html>"], content_type="text/html"),
            GatewayUnavailable,
        ),
        (json_error(503, "无可用渠道"), GatewayUnavailable),
        (
            respond(200, [b"<!doctype html>", b"<html>console"], content_type="text/html"),
            GatewayBadResponse,
        ),
        (respond(200, [b"upstream says hi"], content_type="text/plain"), GatewayBadResponse),
    ],
)
async def test_errors_before_the_stream_are_mapped(gateway, response, cls):
    gateway.reply(response)
    items, error = await collect()
    assert items == []
    assert type(error) is cls
    assert error.status == response.status_code


async def test_a_web_page_tells_the_operator_to_check_the_base_url(gateway):
    gateway.reply(
        respond(200, [b"<!doctype html><title>New API</title>"], content_type="text/html")
    )
    _, error = await collect()
    assert error.user_message == (
        "The gateway answered with a web page instead of data; check GATEWAY_BASE_URL."
    )


@pytest.mark.parametrize(
    ("failure", "cls"),
    [
        (httpx.ConnectError("connection refused"), GatewayUnavailable),
        (httpx.ConnectTimeout("timed out"), GatewayTimeout),
        (httpx.ReadTimeout("timed out"), GatewayTimeout),
        (httpx.RemoteProtocolError("server disconnected"), GatewayUnavailable),
    ],
)
async def test_failures_before_the_answer_are_mapped(gateway, failure, cls):
    gateway.raise_(failure)
    items, error = await collect()
    assert items == []
    assert type(error) is cls
    assert error.__cause__ is failure


async def test_a_gateway_that_ignores_stream_true_still_works(gateway):
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!"},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
    gateway.reply(respond_json(200, completion))
    items, error = await collect()
    assert error is None
    assert items == [ChatDelta(content="Hello!"), ChatEnd("stop", Usage(**USAGE))]


async def test_it_requires_a_configured_gateway(gateway, settings):
    settings.GATEWAY_BASE_URL = ""
    _, error = await collect()
    assert isinstance(error, GatewayNotConfigured)
    assert gateway.requests == []


async def test_the_api_key_never_reaches_errors_or_logs(gateway, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "gateway"):
        caplog.set_level(logging.DEBUG, logger=name)
    bare = API_KEY.removeprefix("sk-")
    gateway.reply(json_error(401, f"无效的令牌 {API_KEY}"))
    _, error = await collect()
    gateway.reply(respond(200, [chunk({"content": "x"})], error=httpx.ReadError(f"boom {API_KEY}")))
    _, lost = await collect()
    gateway.reply(respond(200, [NORMAL_STREAM]))
    await collect()
    for exc in (error, lost):
        for text in (str(exc), repr(exc), exc.detail, exc.message, exc.user_message):
            assert bare not in text
    assert caplog.records
    assert all(bare not in record.getMessage() for record in caplog.records)
    assert bare not in caplog.text


async def test_stopping_early_closes_the_upstream_response(gateway):
    stream = respond(200, [chunk({"content": "a"}), chunk({"content": "b"}), DONE])
    gateway.reply(stream)
    replies = stream_chat(model="m", messages=MESSAGES)
    assert await anext(replies) == ChatDelta(content="a")
    await replies.aclose()
    assert stream.is_closed


@pytest.mark.parametrize(
    ("reported", "usage"),
    [
        (
            {"prompt_tokens": 2**63, "completion_tokens": -5, "total_tokens": 10**30},
            Usage(MAX_TOKEN_COUNT, 0, MAX_TOKEN_COUNT),
        ),
        ({"prompt_tokens": 7.0, "completion_tokens": True}, Usage(7, None, None)),
        ({"prompt_tokens": 2**31, "completion_tokens": 2**31}, Usage(*[MAX_TOKEN_COUNT] * 3)),
        ({"prompt_tokens": 4, "completion_tokens": 2}, Usage(4, 2, 6)),
        ({"prompt_tokens": "12", "completion_tokens": 3.5, "total_tokens": None}, None),
    ],
)
async def test_absurd_usage_numbers_are_clamped_or_dropped(gateway, reported, usage):
    usage_chunk = chunk({}, "stop", usage=reported)
    gateway.reply(respond(200, [chunk({"content": "Hi"}), usage_chunk, DONE]))
    items, error = await collect()
    assert error is None
    assert items[-1] == ChatEnd("stop", usage)


@pytest.mark.django_db(transaction=True)
async def test_the_clamped_counts_fit_the_message_columns(gateway, alice, team):
    reported = {"prompt_tokens": 2**63, "completion_tokens": -1}
    gateway.reply(respond(200, [chunk({}, "stop", usage=reported), DONE]))
    items, _ = await collect()
    end = items[-1]
    assert isinstance(end, ChatEnd) and end.usage is not None
    conversation = await sync_to_async(make_conversation)(team, alice)
    reply = await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        prompt_tokens=end.usage.prompt_tokens,
        completion_tokens=end.usage.completion_tokens,
    )
    stored = await Message.objects.aget(pk=reply.pk)
    assert (stored.prompt_tokens, stored.completion_tokens) == (MAX_TOKEN_COUNT, 0)


@pytest.mark.parametrize(
    ("model", "max_tokens", "field"),
    [
        ("gpt-4o-mini", 599, "max_tokens"),
        ("o3-mini", 599, "max_completion_tokens"),
        ("openai/o1", 12, "max_completion_tokens"),
        ("gpt-5-mini", 12, "max_completion_tokens"),
        ("gpt-4o-mini", None, None),
    ],
)
async def test_a_bound_goes_upstream_in_the_field_the_model_takes(
    gateway, model, max_tokens, field
):
    gateway.reply(respond(200, [NORMAL_STREAM]))
    await collect(model=model, max_tokens=max_tokens)
    body = json.loads(gateway.requests[0].content)
    bounds = {k: v for k, v in body.items() if k in ("max_tokens", "max_completion_tokens")}
    assert bounds == ({field: max_tokens} if field else {})
