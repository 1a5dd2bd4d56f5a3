"""Fake gateway answers for tests/gateway: responses whose bodies arrive as given byte chunks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import httpx

API_KEY = "sk-test-secret-key-0123456789"


class ChunkStream(httpx.AsyncByteStream, httpx.SyncByteStream):
    """A body delivered as exactly these reads, optionally failing after the last one."""

    def __init__(self, chunks: Iterable[bytes], error: Exception | None = None) -> None:
        self.chunks = list(chunks)
        self.error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        if self.error is not None:
            raise self.error


def respond(
    status: int = 200,
    chunks: Iterable[bytes] = (),
    *,
    content_type: str | None = "text/event-stream",
    error: Exception | None = None,
) -> httpx.Response:
    headers = {"content-type": content_type} if content_type else {}
    return httpx.Response(status, headers=headers, stream=ChunkStream(chunks, error))


def respond_json(status: int, data: Any) -> httpx.Response:
    return respond(status, [json.dumps(data).encode()], content_type="application/json")


def chunk(delta: dict | None = None, finish_reason: str | None = None, **extra: Any) -> bytes:
    """One `data: {...}\\n\\n` event of an OpenAI chat stream."""
    data = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}],
        **extra,
    }
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


USAGE = {"prompt_tokens": 19, "completion_tokens": 3, "total_tokens": 22}
USAGE_CHUNK = (
    b'data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,'
    b'"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":'
    + json.dumps(USAGE).encode()
    + b"}\n\n"
)
DONE = b"data: [DONE]\n\n"
# A realistic answer: keep-alive comment, role chunk, text with CJK and an emoji, terminal
# chunk, usage chunk, [DONE].
NORMAL_STREAM = b"".join(
    [
        b": PING\n\n",
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "你好"}),
        chunk({"content": ", world 🎵"}),
        chunk({}, "stop"),
        USAGE_CHUNK,
        DONE,
    ]
)


class FakeGateway:
    """The MockTransport handler: records requests, answers with `handler(request)`."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.handler: Callable[[httpx.Request], httpx.Response] = lambda request: respond(
            404, [b'{"error":{"message":"no handler"}}'], content_type="application/json"
        )

    def reply(self, response: httpx.Response | Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = response if callable(response) else (lambda request: response)

    def raise_(self, error: Exception) -> None:
        def handler(request: httpx.Request) -> httpx.Response:
            raise error

        self.handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)
