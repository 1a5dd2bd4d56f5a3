"""Streamed chat answers over a real socket, checked byte for byte (docs/gateway-api.md,
Streaming)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from demo_gateway import content_tokens, demo_reply, demo_tokens
from demo_gateway.scenarios import CUT_AFTER, PING_COUNT

from .conftest import chat_body, compact, deltas, events, sse_chunk


def _raw(client, body, **headers) -> tuple[httpx.Response, bytes, list[bytes]]:
    with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
        pieces = list(response.iter_raw())
    return response, b"".join(pieces), pieces


def _ids(response: httpx.Response, raw: bytes) -> tuple[str, int]:
    first = json.loads(events(raw)[0])
    assert first["id"] == "chatcmpl-" + response.headers["x-oneapi-request-id"]
    return first["id"], first["created"]


def test_normal_stream_is_byte_exact(client):
    response, raw, _ = _raw(client, chat_body("Tell me about Parlor please"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["transfer-encoding"] == "chunked"
    chat_id, created = _ids(response, raw)
    tokens = demo_tokens("Tell me about Parlor please")
    expected = sse_chunk(chat_id, created, {"role": "assistant", "content": ""})
    expected += b"".join(sse_chunk(chat_id, created, {"content": t}) for t in tokens)
    expected += sse_chunk(chat_id, created, {}, "stop") + b"data: [DONE]\n\n"
    assert raw == expected
    assert "".join(tokens) == demo_reply("Tell me about Parlor please")


def test_usage_chunk_only_when_asked(client):
    body = chat_body("hi", stream_options={"include_usage": True})
    response, raw, _ = _raw(client, body)

    chat_id, created = _ids(response, raw)
    tokens = demo_tokens("hi")
    *chunks, usage_event, done = events(raw)
    assert done == b"[DONE]"
    role = sse_chunk(chat_id, created, {"role": "assistant", "content": ""}, usage_null=True)
    assert b"data: " + chunks[0] + b"\n\n" == role
    assert json.loads(chunks[-1])["choices"][0]["finish_reason"] == "stop"
    usage = json.loads(usage_event)
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == len(tokens)
    assert usage["usage"]["total_tokens"] == usage["usage"]["prompt_tokens"] + len(tokens)
    assert all(json.loads(c)["usage"] is None for c in chunks)


def test_usage_always_sends_usage_unasked(client):
    _, raw, _ = _raw(client, chat_body(), **{"X-Demo-Scenario": "usage_always"})

    assert json.loads(events(raw)[-2])["choices"] == []
    assert "usage" not in json.loads(events(raw)[0])


def test_split_bytes_splits_inside_utf8_characters(client):
    response, raw, pieces = _raw(client, chat_body("[demo:split_bytes]"))

    chat_id, created = _ids(response, raw)
    expected = sse_chunk(chat_id, created, {"role": "assistant", "content": ""})
    tokens = content_tokens("split_bytes", "")
    expected += b"".join(sse_chunk(chat_id, created, {"content": t}) for t in tokens)
    expected += sse_chunk(chat_id, created, {}, "stop") + b"data: [DONE]\n\n"
    assert raw == expected
    assert "🌍" in "".join(tokens)
    assert "中文" in "".join(tokens)
    # Every event arrives in two pieces; some pieces end inside a multi-byte character.
    assert len(pieces) >= 2 * len(events(raw))
    torn = 0
    for piece in pieces:
        try:
            piece.decode()
        except UnicodeDecodeError:
            torn += 1
    assert torn >= 2


def test_crlf_and_data_without_space(client):
    _, crlf, _ = _raw(client, chat_body(), **{"X-Demo-Scenario": "crlf"})
    _, nospace, _ = _raw(client, chat_body(), **{"X-Demo-Scenario": "data_no_space"})

    assert crlf.endswith(b"\r\n\r\ndata: [DONE]\r\n\r\n")
    assert b"\n\n" not in crlf.replace(b"\r\n", b"")
    assert crlf.count(b"\r\n\r\n") == len(demo_tokens("What is 2 + 2?")) + 3
    assert nospace.startswith(b'data:{"id"')
    assert nospace.endswith(b"}\n\ndata:[DONE]\n\n")
    assert b"data: " not in nospace


def test_cut_closes_the_socket_without_done(client):
    received = b""
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", "/v1/chat/completions", json=chat_body("[demo:cut] hi")) as response,
    ):
        for piece in response.iter_raw():
            received += piece

    assert b"[DONE]" not in received
    assert b'finish_reason":"stop' not in received
    assert len(deltas(received)) == 1 + CUT_AFTER


def test_done_without_finish_reason(client):
    _, raw, _ = _raw(client, chat_body("[demo:done_no_finish]"))

    chunks = [json.loads(e) for e in events(raw)[:-1]]
    assert events(raw)[-1] == b"[DONE]"
    assert len(chunks) == 1 + CUT_AFTER
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


def test_error_inside_a_200_stream(client):
    _, raw, _ = _raw(client, chat_body("[demo:stream_error]"))

    *_, error, done = events(raw)
    assert error == compact({"error": {"message": "上游错误", "type": "upstream_error"}})
    assert done == b"[DONE]"
    assert len(deltas(raw)) == 2


@pytest.mark.parametrize("reason", ["length", "content_filter"])
def test_finish_reasons(client, reason):
    _, raw, _ = _raw(client, chat_body(), **{"X-Demo-Scenario": reason})

    last = json.loads(events(raw)[-2])["choices"][0]
    assert last == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}


def test_reasoning_deltas_come_before_content(client):
    _, raw, _ = _raw(client, chat_body("[demo:reasoning] why?"))

    kinds = ["reasoning" if d.get("reasoning_content") else "content" for d in deltas(raw)[1:-1]]
    assert kinds == sorted(kinds, key=lambda k: k != "reasoning")
    assert kinds.count("reasoning") > 3
    text = "".join(d.get("content") or "" for d in deltas(raw))
    assert text == demo_reply("why?")


def test_think_tags_in_content(client):
    _, raw, _ = _raw(client, chat_body("[demo:think] why?"))

    text = "".join(d.get("content", "") for d in deltas(raw))
    assert text.startswith("<think>\n")
    assert text.endswith("\n</think>\n" + demo_reply("why?"))


def test_no_role_no_finish_is_one_char_per_chunk(client):
    _, raw, _ = _raw(client, chat_body("[demo:no_role_no_finish]"))

    chunks = [json.loads(e) for e in events(raw)[:-1]]
    assert events(raw)[-1] == b"[DONE]"
    assert all(len(c["choices"][0]["delta"]["content"]) == 1 for c in chunks)
    assert all("role" not in c["choices"][0]["delta"] for c in chunks)
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)


def test_eof_right_after_done_without_newline(client):
    response, raw, _ = _raw(client, chat_body("[demo:eof_no_newline]"))

    assert raw.endswith(b'"finish_reason":"stop"}]}\n\ndata: [DONE]')
    assert response.headers["connection"] == "close"


def test_slow_first_token_pings_first(client):
    _, raw, _ = _raw(client, chat_body("[demo:slow_first_token]"))

    assert raw.startswith(b": PING\n\n" * PING_COUNT + b'data: {"id"')
    assert raw.endswith(b"data: [DONE]\n\n")


def test_tool_call_fragments(client):
    _, raw, _ = _raw(client, chat_body("[demo:tool_calls]"))

    calls = [d["tool_calls"][0] for d in deltas(raw) if "tool_calls" in d]
    assert calls[0]["id"] == "call_demo1"
    assert json.loads("".join(c["function"]["arguments"] for c in calls)) == {"city": "Paris"}
    assert json.loads(events(raw)[-2])["choices"][0]["finish_reason"] == "tool_calls"


def test_fixed_tokens_and_long(client, demo_gateway):
    demo_gateway.token_delay = 0
    _, fixed, _ = _raw(client, chat_body("[demo:fixed_tokens:7]"))
    _, long, _ = _raw(client, chat_body("[demo:long]"))

    assert [d["content"] for d in deltas(fixed)[1:-1]] == content_tokens("fixed_tokens:7", "")
    assert len(deltas(fixed)) == 7 + 2
    assert len(content_tokens("fixed_tokens:7", "")) == 7
    assert 1400 <= len(deltas(long)) - 2 <= 1700


async def test_async_client_streams_and_handles_many_at_once(demo_gateway):
    headers = {"Authorization": "Bearer sk-demo", "X-Demo-Scenario": "fixed_tokens:20"}

    async def one(client: httpx.AsyncClient) -> bytes:
        async with client.stream("POST", "/v1/chat/completions", json=chat_body()) as response:
            return b"".join([piece async for piece in response.aiter_raw()])

    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(
        base_url=demo_gateway.base_url, headers=headers, limits=limits, timeout=5
    ) as client:
        results = await asyncio.gather(*(one(client) for _ in range(60)))

    assert all(r.endswith(b"data: [DONE]\n\n") for r in results)
    assert all(len(deltas(r)) == 22 for r in results)
