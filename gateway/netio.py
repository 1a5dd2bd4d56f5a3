"""A plain-asyncio network backend for httpcore: the gateway client's sockets.

httpcore's default backend goes through anyio, which per read of a socket enters a cancel
scope for the read timeout (`fail_after`: a timer armed and cancelled), resumes reading the
socket and pauses it again (an epoll register and unregister) and wraps the bytes in three
more layers. A chat stream reads once per token, so in a burst that was most of the event
loop's per-token cost (benchmarks/README.md). Here a socket is one `asyncio.Protocol` that
keeps reading (paused only when READ_LIMIT bytes wait unread), a read that finds bytes
returns them at once, and the read timeout is a deadline: one timer per connection, armed
when a read first has to wait and re-armed only when it fires before the deadline.

Errors are httpcore's (ConnectError, ConnectTimeout, ReadError, ReadTimeout, WriteError,
WriteTimeout), which httpx maps to its own, as with the default backend.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import typing

import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

# Bytes received and not yet read above which the socket stops being read (flow control).
READ_LIMIT = 256 * 1024


class _Protocol(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None  # a read waiting for bytes
        self.deadline: float | None = None  # when that read times out
        self.timer: asyncio.TimerHandle | None = None
        self.paused_reading = False
        self.paused_writing = False
        self.drain: asyncio.Future[None] | None = None  # a write waiting for the buffer

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > READ_LIMIT and not self.paused_reading and self.transport:
            self.paused_reading = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        drain, self.drain = self.drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def pause_writing(self) -> None:
        self.paused_writing = True

    def resume_writing(self) -> None:
        self.paused_writing = False
        drain, self.drain = self.drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # Reads

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _on_timer(self) -> None:
        self.timer = None
        waiter, deadline = self.waiter, self.deadline
        if waiter is None or deadline is None or waiter.done():
            return
        if self.loop.time() >= deadline:
            waiter.set_exception(httpcore.ReadTimeout("timed out reading from the gateway"))
        else:
            self.timer = self.loop.call_at(deadline, self._on_timer)

    async def read(self, max_bytes: int, timeout: float | None) -> bytes:
        if not self.chunks and not self.eof:
            waiter = self.waiter = self.loop.create_future()
            if timeout is not None:
                self.deadline = deadline = self.loop.time() + timeout
                if self.timer is None:
                    self.timer = self.loop.call_at(deadline, self._on_timer)
                elif self.timer.when() > deadline:  # a shorter timeout than the last one
                    self.timer.cancel()
                    self.timer = self.loop.call_at(deadline, self._on_timer)
            try:
                await waiter
            finally:
                self.waiter = self.deadline = None
        if not self.chunks:
            if self.error is not None:
                raise httpcore.ReadError(str(self.error) or type(self.error).__name__)
            return b""
        chunks = self.chunks
        if len(chunks) == 1 and len(chunks[0]) <= max_bytes:
            data = chunks.pop()
        else:
            joined = b"".join(chunks)
            data, rest = joined[:max_bytes], joined[max_bytes:]
            chunks[:] = [rest] if rest else []
        self.buffered -= len(data)
        if self.paused_reading and self.buffered <= READ_LIMIT // 2 and self.transport:
            self.paused_reading = False
            self.transport.resume_reading()
        return data


class AsyncioStream(AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._protocol.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if self._transport.is_closing() or protocol.error is not None:
            raise httpcore.WriteError("the connection to the gateway is closed")
        self._transport.write(buffer)
        if protocol.paused_writing:
            protocol.drain = protocol.drain or protocol.loop.create_future()
            try:
                async with asyncio.timeout(timeout):
                    await protocol.drain
            except TimeoutError:
                raise httpcore.WriteTimeout("timed out writing to the gateway") from None
            if protocol.error is not None:
                raise httpcore.WriteError(str(protocol.error))

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncNetworkStream:
        loop = self._protocol.loop
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.abort()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.abort()
            raise httpcore.ConnectError(str(exc)) from exc
        if transport is None:  # pragma: no cover - only with a protocol asyncio does not know
            raise httpcore.ConnectError("TLS could not be started")
        self._protocol.transport = transport
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # The protocol reads eagerly: bytes or an EOF it holds count as readable (an idle
            # pooled connection that has either is not reused).
            protocol = self._protocol
            return bool(protocol.chunks) or protocol.eof or self._transport.is_closing()
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        return None


class AsyncioBackend(AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    lambda: _Protocol(loop),
                    host,
                    port,
                    local_addr=(local_address, 0) if local_address else None,
                    happy_eyeballs_delay=0.25,
                )
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock: socket.socket | None = transport.get_extra_info("socket")
        if sock is not None:  # asyncio sets TCP_NODELAY already
            for option in socket_options or ():
                sock.setsockopt(*option)
        return AsyncioStream(transport, protocol)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> AsyncNetworkStream:  # pragma: no cover - the gateway is reached over TCP
        return await httpcore.AnyIOBackend().connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
