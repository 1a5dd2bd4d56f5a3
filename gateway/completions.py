"""Streaming legacy completions: POST /v1/completions with stream=true (docs/gateway-api.md,
"Completions (legacy)"), for instruct models such as gpt-3.5-turbo-instruct.

The framing is the chat route's (gateway.sse, `data: [DONE]`), the text is in
`choices[0].text`. Gateways are inconsistent on this route: new-api's synthesised usage chunk
is chat-shaped (`"object": "chat.completion.chunk"`, `choices: []`), and some relays answer in
the chat shape throughout (`choices[0].delta.content`); both are accepted. Items are the chat
stream's (gateway.types.ChatDelta, then one ChatEnd), so a reply reads either the same way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from typing import Any

from gateway.chat import _State, choice_of, read_stream
from gateway.redact import without_nul
from gateway.types import ChatDelta, ChatEnd

logger = logging.getLogger(__name__)

PATH = "/v1/completions"
# What the upstream accepts for `stop` (OpenAI: up to four sequences).
MAX_STOP_SEQUENCES = 4


def request_body(
    *,
    model: str,
    prompt: str,
    max_tokens: int,
    temperature: float | None = None,
    stop: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON sent upstream: `stop` only when there are sequences, at most four."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if temperature is not None:
        body["temperature"] = temperature
    sequences = [s for s in (stop or []) if s][:MAX_STOP_SEQUENCES]
    if sequences:
        body["stop"] = sequences
    return body


def stream_completion(
    *,
    model: str,
    prompt: str,
    max_tokens: int,
    temperature: float | None = None,
    stop: list[str] | None = None,
) -> AsyncGenerator[ChatDelta | ChatEnd, None]:
    """Yield ChatDelta items (the completion's text) as they arrive, then exactly one ChatEnd,
    through the chat route's read loop (gateway.chat.read_stream).

    Raises a GatewayError (already logged here) instead of the ChatEnd when the request
    fails; GatewayConnectionLost when the stream breaks off, after the deltas received."""
    body = request_body(
        model=model, prompt=prompt, max_tokens=max_tokens, temperature=temperature, stop=stop
    )
    return read_stream(PATH, body, model=model, what="Completion", parse=_parse)


def _parse(payload: str, state: _State) -> ChatDelta | object | None:
    """One event: a delta to yield, DONE, or None; errors raise. A text completion chunk
    (`choices[0].text`) or a chat-shaped one (`choices[0].delta.content`, or `message` in a
    non-stream answer); a usage chunk in either shape."""
    choice = choice_of(payload, state)
    if not isinstance(choice, dict):
        return choice
    text = choice.get("text")
    if not isinstance(text, str):
        delta = choice.get("delta") or choice.get("message")
        text = delta.get("content") if isinstance(delta, dict) else None
    return ChatDelta(content=without_nul(text)) if isinstance(text, str) and text else None
