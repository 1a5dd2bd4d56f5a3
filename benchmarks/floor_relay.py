"""The floor for `stream_relay.py`: the same token path with nothing but asyncio streams.

No websockets library, no httpx, no database, no auth, no escaping. The websocket side is
written by hand (RFC 6455): the HTTP/1.1 upgrade handshake, masked client frames read and
unmasked, unmasked server text frames written. The gateway side too: one HTTP/1.1 request
per reply on a kept-alive loopback connection (an idle pool, like Parlor's httpx pool),
chunked transfer decoding by hand, SSE `data:` lines split by hand, one `json.loads` per line.

One websocket text frame per content delta, at once (no coalescing): that is the least any
relay must do to deliver each token as it arrives, so it is the floor. Parlor coalesces
(fewer, larger frames); that is its own saving and counts for it, not against the floor. One
binary frame, `b"end"`, ends each reply (the same reader as minimal_relay.py).

    python benchmarks/floor_relay.py --port 8766 --gateway http://127.0.0.1:8001
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import signal
import struct

MODEL = "gpt-4o-mini"
END_FRAME = b"end"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_HEAD_LIMIT = 64 * 1024


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key.strip() + _GUID, usedforsecurity=False).digest())


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final server frame."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


def unmask(mask: bytes, data: bytes) -> bytes:
    n = len(data)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(opcode, payload) of one client frame; fragments are not used by the harness."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if second & 0x80 else b""
    payload = await reader.readexactly(length)
    return first & 0x0F, unmask(mask, payload) if mask else payload


def content_of(line: bytes) -> str | None:
    """The content delta of one SSE line, or None (comments, role chunk, usage, [DONE])."""
    if not line.startswith(b"data:"):
        return None
    data = line[5:].strip()
    if not data or data == b"[DONE]":
        return None
    choices = json.loads(data).get("choices") or ()
    if not choices:
        return None
    return (choices[0].get("delta") or {}).get("content") or None


class Upstream:
    """Kept-alive raw connections to the gateway, a request and its chunked SSE answer."""

    def __init__(self, gateway: str, api_key: str) -> None:
        self.host, port = gateway.removeprefix("http://").rstrip("/").rsplit(":", 1)
        self.port = int(port)
        self.api_key = api_key
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    def request(self, text: str) -> bytes:
        body = json.dumps(
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": text}],
                "stream": True,
                "stream_options": {"include_usage": True},
            }
        ).encode()
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def stream(self, text: str, send: asyncio.StreamWriter) -> None:
        """POST `text`, write one websocket text frame to `send` per content delta."""
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(self.request(text))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            writer.close()
            raise ConnectionError(head.split(b"\r\n", 1)[0].decode("latin-1"))
        lowered = head.lower()
        chunked = b"transfer-encoding: chunked" in lowered
        pending = b""
        async for data in self._body(reader, chunked):
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                content = content_of(line)
                if content:
                    send.write(frame(0x1, content.encode()))
        if chunked and b"connection: close" not in lowered:
            self.idle.append((reader, writer))
        else:
            writer.close()

    @staticmethod
    async def _body(reader: asyncio.StreamReader, chunked: bool):  # type: ignore[no-untyped-def]
        if not chunked:
            while data := await reader.read(65536):
                yield data
            return
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from the gateway
                return
            data = await reader.readexactly(size + 2)
            yield data[:-2]


class Relay:
    def __init__(self, gateway: str, api_key: str) -> None:
        self.upstream = Upstream(gateway, api_key)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _HEAD_LIMIT or not self._handshake(head, writer):
                return
            while True:
                opcode, payload = await read_frame(reader)
                if opcode == 0x8:  # close: echo it and hang up
                    writer.write(frame(0x8, payload[:2]))
                    break
                if opcode == 0x9:
                    writer.write(frame(0xA, payload))
                elif opcode == 0x1:
                    text = str(json.loads(payload).get("text", ""))
                    await self.upstream.stream(text, writer)
                    writer.write(frame(0x2, END_FRAME))
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _handshake(head: bytes, writer: asyncio.StreamWriter) -> bool:
        key = b""
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        if not key:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n"
        )
        return True


async def main(host: str, port: int, gateway: str, api_key: str) -> None:
    relay = Relay(gateway, api_key)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    server = await asyncio.start_server(relay.handle, host, port, backlog=1024)
    async with server:
        print(f"floor relay listening on ws://{host}:{port}/", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--gateway", default="http://127.0.0.1:8001")
    parser.add_argument("--api-key", default="sk-demo")
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port, args.gateway, args.api_key))
