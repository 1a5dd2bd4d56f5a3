from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from demo_gateway.scenarios import FINGERPRINT


def chat_body(text: str = "What is 2 + 2?", *, stream: bool = True, **extra: Any) -> dict:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    return {**body, "stream": stream, **extra}


def sse_chunk(
    chat_id: str, created: int, delta: dict, finish: str | None = None, *, usage_null: bool = False
) -> bytes:
    chunk: dict[str, Any] = {
        "id": chat_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": "gpt-4o-mini",
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage_null:
        chunk["usage"] = None
    return b"data: " + compact(chunk) + b"\n\n"


def compact(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def events(raw: bytes) -> list[bytes]:
    """The `data:` payloads of a well-formed `\\n\\n`-separated stream."""
    return [e.removeprefix(b"data: ") for e in raw.split(b"\n\n") if e]


def deltas(raw: bytes) -> list[dict]:
    """The `delta` of every chat chunk (skips [DONE], error events and the usage chunk)."""
    parsed = [json.loads(e) for e in events(raw) if e != b"[DONE]"]
    return [p["choices"][0]["delta"] for p in parsed if p.get("choices")]


@pytest.fixture
def client(demo_gateway):
    with httpx.Client(
        base_url=demo_gateway.base_url,
        headers={"Authorization": f"Bearer {demo_gateway.api_key}"},
        timeout=5,
    ) as client:
        yield client
