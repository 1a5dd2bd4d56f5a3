"""Daphne's sockets write at once when nothing is waiting to go out before.

Twisted's `transport.write` only buffers: it registers the socket with the event loop for
writing, and the bytes go out on the loop's next turn, when the socket reports writable; then
the socket is unregistered again. A websocket frame of a streaming reply is one such write, so
every frame cost two selector changes (two epoll_ctl calls) and one more trip through the
loop and Twisted's logging context, besides the send itself (benchmarks/README.md).

Here a server connection's write first tries the socket itself, when nothing is buffered
before it (so bytes never overtake earlier ones) and the connection is open and not closing.
What the socket takes is gone; what it does not take, and any error, go the usual way (the
buffer and the writable callback, which reports the error as before). Each byte still goes out
once and in order: only the moment changes, from the loop's next turn to now.
"""

from __future__ import annotations

from errno import EAGAIN, ENOBUFS, EWOULDBLOCK

from twisted.internet import tcp

_WOULD_BLOCK = frozenset({EAGAIN, EWOULDBLOCK, ENOBUFS})


class EagerServer(tcp.Server):
    """An accepted TCP connection whose write sends at once when its buffer is empty."""

    def write(self, data: bytes) -> None:
        if type(data) is bytes and self._idle():
            try:
                sent = self.socket.send(data)
            except OSError as error:
                if error.errno not in _WOULD_BLOCK:  # let the writable callback report it
                    super().write(data)
                    return
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        super().write(data)

    def _idle(self) -> bool:
        """Open, not closing, and nothing buffered: a send now cannot overtake or outlive.
        Not after startTLS either: then a write goes through the TLS layer first."""
        return bool(
            not self.TLS
            and self.connected
            and not self.disconnecting
            and not self._writeDisconnecting
            and not self._writeDisconnected
            and not self._tempDataBuffer
            and self.offset == len(self.dataBuffer)
        )


def install() -> None:
    """Make the TCP ports opened from now on accept their connections as EagerServer
    (Twisted's Port builds each accepted connection from its `transport` class)."""
    tcp.Port.transport = EagerServer
