"""The one place that builds HTTP clients for the gateway: base URL, auth, timeouts, limits.

Every answer's body is read through a byte cap (GATEWAY_MAX_BODY_BYTES, `CappedTransport`):
a declared Content-Length over it is refused before a byte is read, and a body without one
is counted as it arrives; either way a GatewayBadResponse is raised instead of handing
hundreds of megabytes to a JSON parser. Result files are not read here (gateway.download
has its own cap).

Async code shares one `httpx.AsyncClient` per event loop (connections are bound to a loop);
sync views use a short-lived `httpx.Client`. Tests swap the network for an
`httpx.MockTransport` with `use_transport`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx
from django.conf import settings
from django.utils.translation import gettext_noop
from httpcore._async.interfaces import AsyncConnectionInterface

from gateway.errors import GatewayBadResponse, GatewayNotConfigured, error_from_response
from gateway.netio import AsyncioBackend

# Sized for ~200 concurrent chat streams per process (HTTP/1.1: one connection each).
LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30)
ERROR_BODY_MAX_BYTES = 64 * 1024

_transport: httpx.AsyncBaseTransport | None = None
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[tuple, httpx.AsyncClient]]
_clients = weakref.WeakKeyDictionary()


def origin() -> str:
    """GATEWAY_BASE_URL without whitespace, trailing "/" or a trailing "/v1"."""
    base = (settings.GATEWAY_BASE_URL or "").strip().rstrip("/")
    base = base.removesuffix("/v1").rstrip("/")
    if not base:
        raise GatewayNotConfigured("GATEWAY_BASE_URL is empty")
    if not base.lower().startswith(("http://", "https://")):
        raise GatewayNotConfigured(
            f"GATEWAY_BASE_URL must start with http:// or https://, not {base[:40]!r}",
            summary=gettext_noop("The gateway address is not a web address; fix GATEWAY_BASE_URL."),
        )
    return base


def max_body_bytes() -> int:
    return int(settings.GATEWAY_MAX_BODY_BYTES)


def _too_big(size: int | str, limit: int) -> GatewayBadResponse:
    return GatewayBadResponse(f"an answer of {size} bytes is over the {limit}-byte cap")


def _check_declared(response: httpx.Response, limit: int) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_big(declared, limit)


class _CappedStream(httpx.AsyncByteStream, httpx.SyncByteStream):
    def __init__(self, inner: Any, limit: int) -> None:
        self.inner, self.limit, self.seen = inner, limit, 0

    def _count(self, chunk: bytes) -> bytes:
        self.seen += len(chunk)
        if self.seen > self.limit:
            raise _too_big(f"more than {self.limit}", self.limit)
        return chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            yield self._count(chunk)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            yield self._count(chunk)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def close(self) -> None:
        self.inner.close()


class CappedTransport(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """Wraps a client's transport (async or sync) so every body is read under the cap."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:  # the pool and the rest, as the inner one has
        return getattr(self.inner, name)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        limit = max_body_bytes()
        try:
            _check_declared(response, limit)
        except GatewayBadResponse:
            await response.aclose()
            raise
        response.stream = _CappedStream(response.stream, limit)
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        limit = max_body_bytes()
        try:
            _check_declared(response, limit)
        except GatewayBadResponse:
            response.close()
            raise
        response.stream = _CappedStream(response.stream, limit)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    def close(self) -> None:
        self.inner.close()


def _cap(client: httpx.AsyncClient | httpx.Client) -> None:
    """Put every transport of `client` (its own, and the proxies' from the environment)
    behind the body cap."""
    client._transport = CappedTransport(client._transport)
    for pattern, transport in list(client._mounts.items()):
        if transport is not None:
            client._mounts[pattern] = CappedTransport(transport)


def _options() -> dict[str, Any]:
    connect = float(settings.GATEWAY_CONNECT_TIMEOUT)
    headers = {"User-Agent": "Parlor"}
    if settings.GATEWAY_API_KEY:
        headers["Authorization"] = f"Bearer {settings.GATEWAY_API_KEY}"
    return {
        "base_url": origin(),
        "headers": headers,
        "timeout": httpx.Timeout(
            connect=connect, read=float(settings.GATEWAY_READ_TIMEOUT), write=connect, pool=connect
        ),
    }


def _fingerprint(options: dict[str, Any]) -> tuple:
    return (options["base_url"], tuple(options["headers"].items()), options["timeout"], _transport)


def get_client() -> httpx.AsyncClient:
    """The shared client of the running event loop, rebuilt if the settings changed."""
    loop = asyncio.get_running_loop()
    options = _options()
    key = _fingerprint(options)
    cached = _clients.get(loop)
    if cached is not None and cached[0] == key:
        return cached[1]
    # A replaced client is dropped, not closed: streams may still be reading from it.
    _remember_missing_sniffio()
    client = httpx.AsyncClient(**options, limits=LIMITS, transport=_transport)
    if _transport is None:
        _use_asyncio_sockets(client._transport)
    _cap(client)
    _clients[loop] = (key, client)
    return client


def _remember_missing_sniffio() -> None:
    """httpcore asks which async library runs (`current_async_library`) whenever it sets up a
    lock or event or closes a response, several times a reply, and first tries `import
    sniffio`. Parlor does not install sniffio (anyio no longer needs it), and a failed import
    is not remembered: every call searched sys.path again (~45 µs each; in a burst of replies,
    a tenth of the event loop). A None entry in sys.modules is Python's own record of a module
    that is not there: the import fails at once (~1 µs), with the same ModuleNotFoundError
    httpcore and anyio already expect. An installed sniffio is left to be imported."""
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def _use_asyncio_sockets(transport: httpx.AsyncBaseTransport) -> None:
    """Put httpx's default transport (its pool, TLS, limits; proxies from the environment are
    other transports, left as they are) on gateway.netio's plain-asyncio sockets instead of
    anyio's: a chat stream reads its socket once per token, and anyio's read was most of what
    that costs (see gateway.netio). Before the pool has opened any connection. The pool
    becomes a LinearPool (no state of its own: only its assignment pass differs)."""
    pool = getattr(transport, "_pool", None)
    if type(pool) is httpcore.AsyncConnectionPool:
        pool._network_backend = AsyncioBackend()
        pool.__class__ = LinearPool


class LinearPool(httpcore.AsyncConnectionPool):
    """httpcore's pool with its assignment pass's clean-up in linear time.

    The pass runs at every request and at every response's end. httpcore 1.0's, for each idle
    connection, counts `len([c.is_idle() for c in connections])`, which is every connection,
    not the idle ones: quadratic in the connections (with 150 streams, up to 8% of the event
    loop), and since busy connections count, an idle one was closed whenever more than
    max_keepalive_connections were open at all, so in a burst most replies connected anew.
    Here the idle ones are counted once and only those over the limit are closed, oldest
    first. Assigning the queued requests is httpcore's, unchanged."""

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        closing = self._close_spent_and_surplus()
        queued = [request for request in self._requests if request.is_queued()]
        for pool_request in queued:
            origin = pool_request.request.url.origin
            available = [
                connection
                for connection in self._connections
                if connection.can_handle_request(origin) and connection.is_available()
            ]
            if available:
                pool_request.assign_to_connection(available[0])
                continue
            if len(self._connections) >= self._max_connections:  # room: close an idle one
                idle = next((c for c in self._connections if c.is_idle()), None)
                if idle is None:
                    continue  # stays queued until a connection frees up
                self._connections.remove(idle)
                closing.append(idle)
            connection = self.create_connection(origin)
            self._connections.append(connection)
            pool_request.assign_to_connection(connection)
        return closing

    def _close_spent_and_surplus(self) -> list[AsyncConnectionInterface]:
        """Drop the closed connections; take out, to be closed, the expired ones and the idle
        ones over max_keepalive_connections (the oldest of them)."""
        closing: list[AsyncConnectionInterface] = []
        kept: list[AsyncConnectionInterface] = []
        for connection in self._connections:
            if connection.is_closed():
                continue
            if connection.has_expired():
                closing.append(connection)
            else:
                kept.append(connection)
        surplus = sum(c.is_idle() for c in kept) - self._max_keepalive_connections
        if surplus > 0:
            for connection in [c for c in kept if c.is_idle()][:surplus]:
                kept.remove(connection)
                closing.append(connection)
        self._connections = kept
        return closing


def get_sync_client() -> httpx.Client:
    """A new client for sync code; use it in a `with` block."""
    transport = _transport if isinstance(_transport, httpx.BaseTransport) else None
    client = httpx.Client(**_options(), transport=transport)
    _cap(client)
    return client


@contextmanager
def use_transport(transport: httpx.AsyncBaseTransport | None) -> Iterator[None]:
    """Clients built inside the block send their requests to `transport` (tests)."""
    global _transport
    previous, _transport = _transport, transport
    _clients.clear()
    try:
        yield
    finally:
        _transport = previous
        _clients.clear()


async def aclose_clients() -> None:
    """Close the running loop's shared client (at shutdown)."""
    cached = _clients.pop(asyncio.get_running_loop(), None)
    if cached is not None:
        await cached[1].aclose()


def read_json(response: httpx.Response) -> Any:
    """The parsed JSON body of a read 2xx JSON response; any other answer raises."""
    content_type = response.headers.get("content-type", "")
    if not response.is_success or "json" not in content_type:
        raise error_from_response(response.status_code, content_type, response.content)
    try:
        return response.json()
    except ValueError:
        raise error_from_response(response.status_code, "", response.content) from None
