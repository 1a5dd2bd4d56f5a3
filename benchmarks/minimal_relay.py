"""The baseline for `stream_relay.py`: the smallest sensible websocket token relay.

One asyncio process, one shared `httpx.AsyncClient`. For each JSON message a client sends
(`{"text": "..."}`, the same htmx ws-send shape Parlor gets), it streams a chat completion
from the gateway, parses the SSE lines with `aiter_lines` and sends every content delta at
once as one text frame. One binary frame, `b"end"`, closes each reply. No auth, no database,
no escaping, no coalescing: what any relay has to pay, and nothing else.

    python benchmarks/minimal_relay.py --port 8765 --gateway http://127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from typing import Any

import httpx
from websockets.asyncio.server import ServerConnection, serve

END_FRAME = b"end"
MODEL = "gpt-4o-mini"
# The same pool size as Parlor's gateway client (gateway/client.py).
LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30)


def content_of(line: str) -> str | None:
    """The content delta of one SSE line, or None (comments, role chunk, usage, [DONE])."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    choices = json.loads(data).get("choices") or ()
    if not choices:
        return None
    return (choices[0].get("delta") or {}).get("content") or None


class Relay:
    def __init__(self, gateway: str, api_key: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=gateway,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=httpx.Timeout(10, read=300),
            limits=LIMITS,
        )

    async def handle(self, ws: ServerConnection) -> None:
        async for message in ws:
            request = json.loads(message)
            await self.relay(ws, str(request.get("text", "")))

    async def relay(self, ws: ServerConnection, text: str) -> None:
        body: dict[str, Any] = {
            "model": MODEL,
            "messages": [{"role": "user", "content": text}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        async with self.client.stream("POST", "/v1/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                content = content_of(line)
                if content:
                    await ws.send(content)
        await ws.send(END_FRAME)


async def main(host: str, port: int, gateway: str, api_key: str) -> None:
    relay = Relay(gateway, api_key)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    async with serve(relay.handle, host, port, compression=None, max_queue=None):
        print(f"minimal relay listening on ws://{host}:{port}/", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await stop
    await relay.client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--gateway", default="http://127.0.0.1:8001")
    parser.add_argument("--api-key", default="sk-demo")
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port, args.gateway, args.api_key))
