"""The channel layer's Redis connections: redis-py's, but a cancellation is never lost.

redis-py writes every command through `asyncio.wait_for` when the connection has a socket
timeout (it always has one: 5 s by default, REDIS_SOCKET_TIMEOUT here). On Python 3.11,
`wait_for` drops a cancellation that arrives in the loop turn in which the write completes: it
returns the write's result instead of raising. channels-redis's receive then goes on to its
BZPOPMIN and, finding nothing, waits again, for ever. That happened whenever a socket closed
while its consumer's channel read was still connecting or writing: a refused handshake (origin,
layer outage), a tab closed at once. The consumer never ended; daphne killed it at shutdown
("Killed 1 pending application instances"), and tests sat out timeouts. Python 3.12 rewrote
`wait_for`; there the check below never fires.

The connection remembers how often its task had been asked to cancel before a write; if that
went up and the write still returned, the cancellation was swallowed, and it is raised again.
redis-py then handles it as any other cancellation of a command in flight (the connection is
dropped or reconnected before it is used again).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection


class KeepsCancellations:
    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        task = asyncio.current_task()
        asked = task.cancelling() if task is not None else 0
        await super().send_packed_command(command, check_health)  # type: ignore[misc]
        if task is not None and task.cancelling() > asked:
            raise asyncio.CancelledError


class CancellableConnection(KeepsCancellations, Connection):
    pass


class CancellableSSLConnection(KeepsCancellations, SSLConnection):
    pass


class CancellableUnixConnection(KeepsCancellations, UnixDomainSocketConnection):
    pass


def connection_class(url: str) -> type[Connection | UnixDomainSocketConnection]:
    """The class for REDIS_URL's scheme (redis://, rediss:// or unix://), as redis-py would
    choose it from the URL; a class given to it wins over the URL's."""
    scheme = urlsplit(url).scheme
    if scheme == "rediss":
        return CancellableSSLConnection
    if scheme == "unix":
        return CancellableUnixConnection
    return CancellableConnection
