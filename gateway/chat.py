"""Streaming chat completions: POST /v1/chat/completions with stream=true (docs/gateway-api.md,
Streaming).

The per-event path is one `json.loads` and a few dict lookups; nothing else runs per token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import httpx

from gateway.client import ERROR_BODY_MAX_BYTES, get_client, read_json
from gateway.errors import (
    GatewayBadResponse,
    GatewayConnectionLost,
    GatewayError,
    GatewayStreamError,
    GatewayTimeout,
    error_from_exception,
    error_from_response,
    error_message_and_code,
)
from gateway.redact import StreamRedactor, redact, stream_redactor, without_nul
from gateway.sse import SSEDecoder
from gateway.types import MAX_TOKEN_COUNT, ChatDelta, ChatEnd, Usage, token_count

logger = logging.getLogger(__name__)

PATH = "/v1/chat/completions"
# How long the end of a response may follow its [DONE] and still keep its connection.
BODY_END_SECONDS = 0.05
DONE = object()  # what a parse returns for `data: [DONE]`


class _State:
    __slots__ = ("finish_reason", "usage")

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self.usage: Usage | None = None

    def end(self) -> ChatEnd:
        return ChatEnd(finish_reason=self.finish_reason, usage=self.usage)


def stream_chat(
    *,
    model: str,
    messages: list[dict],
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> AsyncGenerator[ChatDelta | ChatEnd, None]:
    """Yield ChatDelta items as they arrive, then exactly one ChatEnd. `max_tokens` bounds
    the answer (None: the model's own limit).

    Raises a GatewayError (already logged here) instead of the ChatEnd when the request
    fails; GatewayConnectionLost when the stream breaks off, after the deltas received.
    """
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body[max_tokens_field(model)] = max_tokens
    return read_stream(PATH, body, model=model, what="Chat", parse=_parse)


# OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...) refuse `max_tokens` and want
# `max_completion_tokens` (docs/gateway-api.md, Chat); a vendor prefix ("openai/") may precede.
_COMPLETION_TOKENS_MODELS = re.compile(r"^(?:[\w.-]+/)?(?:o\d|gpt-5)", re.IGNORECASE)


def max_tokens_field(model: str) -> str:
    """The request field that bounds `model`'s answer."""
    return "max_completion_tokens" if _COMPLETION_TOKENS_MODELS.match(model) else "max_tokens"


# How a route reads one SSE event (or a whole JSON answer): a delta to yield, DONE, or None.
Parse = Callable[[str, "_State"], "ChatDelta | object | None"]


async def read_stream(
    path: str, body: dict[str, Any], *, model: str, what: str, parse: Parse
) -> AsyncGenerator[ChatDelta | ChatEnd, None]:
    """POST `body` to `path` and yield what `parse` makes of each event, then one ChatEnd:
    the one read loop of the chat route and the legacy completions route (gateway.
    completions), which differ only in how an event is read. Errors as stream_chat says."""
    state = _State()
    started = False
    # The gateway may repeat Parlor's key in what it writes: taken out here, even split
    # between events, so no delta anyone receives carries it (gateway.redact).
    scrub = _Scrubber.make()
    try:
        client = get_client()
        headers = {"Accept": "text/event-stream"}
        async with client.stream("POST", path, json=body, headers=headers) as response:
            content_type = response.headers.get("content-type", "")
            if not (response.is_success and "event-stream" in content_type):
                delta = await _not_a_stream(response, content_type, state, parse)
                if delta is not None:
                    yield scrub.whole(delta) if scrub else delta
            else:
                # The token path, inline (not a generator of its own: one layer less per read).
                started = True
                decoder = SSEDecoder()
                done = False
                chunks = _body(response)
                while not done:
                    chunk = await anext(chunks, None)
                    # At EOF the decoder ends a pending event, which must be [DONE].
                    for payload in decoder.close() if chunk is None else decoder.feed(chunk):
                        event = parse(payload, state)
                        if isinstance(event, ChatDelta):
                            if scrub is None:
                                yield event
                            elif (clean := scrub.feed(event)) is not None:
                                yield clean
                        elif event is DONE:
                            done = True
                            break
                    if chunk is None:
                        break
                if not done:
                    raise GatewayConnectionLost("stream ended without [DONE]")
                await _read_to_end(chunks)
    except httpx.HTTPError as exc:
        error = error_from_exception(exc, mid_stream=started)
        logger.warning("%s stream (model %s) failed: %s", what, model, error)
        if scrub is not None and (tail := scrub.end()) is not None:
            yield tail  # what was held back for the key is text the reply keeps
        raise error from exc
    except GatewayError as exc:
        logger.warning("%s stream (model %s) failed: %s", what, model, exc)
        if scrub is not None and (tail := scrub.end()) is not None:
            yield tail
        raise
    if scrub is not None and (tail := scrub.end()) is not None:
        yield tail
    yield state.end()


class _Scrubber:
    """A stream's two texts (content, reasoning), each through its own StreamRedactor."""

    __slots__ = ("content", "reasoning")

    def __init__(self, content: StreamRedactor, reasoning: StreamRedactor) -> None:
        self.content, self.reasoning = content, reasoning

    @classmethod
    def make(cls) -> _Scrubber | None:
        content, reasoning = stream_redactor(), stream_redactor()
        if content is None or reasoning is None:
            return None
        return cls(content, reasoning)

    def feed(self, delta: ChatDelta) -> ChatDelta | None:
        """The delta's text that can be shown now; None while all of it is held back."""
        content = self.content.feed(delta.content) if delta.content else ""
        reasoning = self.reasoning.feed(delta.reasoning) if delta.reasoning else ""
        if content or reasoning:
            return ChatDelta(content=content, reasoning=reasoning)
        return None

    def end(self) -> ChatDelta | None:
        content, reasoning = self.content.end(), self.reasoning.end()
        return ChatDelta(content=content, reasoning=reasoning) if content or reasoning else None

    def whole(self, delta: ChatDelta) -> ChatDelta:
        """A delta that is the whole answer (a gateway that ignored stream=true)."""
        return ChatDelta(content=redact(delta.content), reasoning=redact(delta.reasoning))


async def _read_to_end(body: AsyncIterator[bytes]) -> None:
    """After [DONE]: read the end of the body if it comes at once (it does: the gateway ends
    the response), so that the connection goes back to the pool for the next reply. A body
    closed before its last chunk closes its connection, and every reply connected anew (and
    with https, a TLS handshake). Whatever follows [DONE] is ignored, as before; a gateway
    that keeps the stream open past BODY_END_SECONDS only costs its connection."""
    try:
        async with asyncio.timeout(BODY_END_SECONDS):
            async for _chunk in body:
                pass
    except (TimeoutError, httpx.HTTPError):
        pass


def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive. Without a content coding (what gateways send for an
    event stream) that is the raw stream, skipping httpx's decoder and chunker per read;
    gzip and the others still go through them."""
    coding = response.headers.get("content-encoding", "").strip().lower()
    return response.aiter_raw() if coding in ("", "identity") else response.aiter_bytes()


async def _not_a_stream(
    response: httpx.Response, content_type: str, state: _State, parse: Parse
) -> ChatDelta | None:
    """Handle an answer that is not an event stream: an error, a web page, or a gateway
    that ignored stream=true and sent one JSON completion (read by the route's `parse`)."""
    if response.is_success and "json" in content_type:
        item = parse((await response.aread()).decode("utf-8", "replace"), state)
        return item if isinstance(item, ChatDelta) else None
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= ERROR_BODY_MAX_BYTES:
            break
    raise error_from_response(response.status_code, content_type, bytes(body))


def choice_of(payload: str, state: _State) -> dict[str, Any] | object | None:
    """What every route's events share: DONE, an error (raised), the usage and the finish
    reason (kept in `state`); then the first choice, a dict, or None when there is none."""
    if payload.startswith("[DONE]"):
        return DONE
    try:
        data = json.loads(payload)
    except ValueError:
        if not payload.strip():
            return None
        if payload.strip().startswith("[DONE]"):
            return DONE
        raise GatewayBadResponse(f"malformed stream event: {payload[:200]}") from None
    if not isinstance(data, dict):
        raise GatewayBadResponse(f"unexpected stream event: {payload[:200]}")
    if data.get("error"):
        message, code = error_message_and_code(data)
        raise GatewayStreamError(f"error event (code {code or '-'}): {payload}", message=message)
    if data.get("usage"):
        state.usage = _usage(data["usage"]) or state.usage
    choices = data.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    if choice.get("finish_reason"):
        state.finish_reason = str(choice["finish_reason"])
    return choice


def _parse(payload: str, state: _State) -> ChatDelta | object | None:
    """One chat event: a delta to yield, DONE, or None; errors raise."""
    choice = choice_of(payload, state)
    if not isinstance(choice, dict):
        return choice
    delta = choice.get("delta") or choice.get("message")  # Suno-style non-stream answers
    item = _text_of(delta)
    if item is None and "message" in choice and "delta" in choice:
        # A whole answer with both, one of them empty (Suno-API's non-stream quirk puts the
        # text in `delta`): the other one. Never reached per token: chunks have no `message`.
        other = choice["message"] if delta is choice["delta"] else choice["delta"]
        item = _text_of(other)
    return item


def _text_of(part: Any) -> ChatDelta | None:
    if not isinstance(part, dict):
        return None
    content = part.get("content")
    reasoning = part.get("reasoning_content") or part.get("reasoning")
    content = without_nul(content) if isinstance(content, str) else ""
    reasoning = without_nul(reasoning) if isinstance(reasoning, str) else ""
    if content or reasoning:
        return ChatDelta(content=content, reasoning=reasoning)
    return None


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    prompt = token_count(data.get("prompt_tokens"))
    completion = token_count(data.get("completion_tokens"))
    total = token_count(data.get("total_tokens"))
    if total is None and prompt is not None and completion is not None:
        total = min(prompt + completion, MAX_TOKEN_COUNT)
    if prompt is None and completion is None and total is None:
        return None
    return Usage(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


async def complete_chat(
    *,
    model: str,
    messages: list[dict],
    max_tokens: int,
    timeout: float,
    temperature: float | None = None,
) -> tuple[str, Usage | None]:
    """One short non-streaming chat completion (a conversation's title, chat.titles): the
    answer's text, with Parlor's key taken out (gateway.redact), and the gateway's usage.
    The whole call, connecting included, is bounded by `timeout` seconds.

    Raises a GatewayError (already logged here) when the request fails or times out."""
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": False}
    body[max_tokens_field(model)] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    try:
        async with asyncio.timeout(timeout):
            response = await get_client().post(PATH, json=body, timeout=timeout)
            data = read_json(response)
    except TimeoutError as exc:
        logger.warning("Chat completion (model %s) took over %s s", model, timeout)
        raise GatewayTimeout(f"no answer within {timeout} s") from exc
    except httpx.HTTPError as exc:
        error = error_from_exception(exc)
        logger.warning("Chat completion (model %s) failed: %s", model, error)
        raise error from exc
    except GatewayError as exc:
        logger.warning("Chat completion (model %s) failed: %s", model, exc)
        raise
    if not isinstance(data, dict):
        raise GatewayBadResponse("the completion is not a JSON object")
    if data.get("error"):
        message, code = error_message_and_code(data)
        raise GatewayStreamError(f"error answer (code {code or '-'})", message=redact(message))
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    item = _text_of(choice.get("message")) if isinstance(choice, dict) else None
    return redact(item.content if item is not None else ""), _usage(data.get("usage"))
