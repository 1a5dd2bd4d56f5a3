"""config.eager_write: daphne's accepted connections send at once when nothing is buffered,
and otherwise write as Twisted does (buffer, writable callback), bytes in order."""

from __future__ import annotations

import socket

import pytest
from twisted.internet import main, tcp
from twisted.internet.protocol import Protocol

from config import eager_write
from config.eager_write import EagerServer


class FakeReactor:
    """Records which descriptors ask to be told when they can write."""

    def __init__(self) -> None:
        self.writers: list[object] = []

    def addReader(self, reader: object) -> None:
        pass

    def removeReader(self, reader: object) -> None:
        pass

    def addWriter(self, writer: object) -> None:
        if writer not in self.writers:
            self.writers.append(writer)

    def removeWriter(self, writer: object) -> None:
        if writer in self.writers:
            self.writers.remove(writer)


@pytest.fixture
def pair():
    """A connected socket pair: (the server's side, wrapped as EagerServer; the peer)."""
    mine, peer = socket.socketpair()
    mine.setblocking(False)
    peer.settimeout(1.0)
    reactor = FakeReactor()
    server = EagerServer(mine, Protocol(), ("127.0.0.1", 1), None, 1, reactor)  # type: ignore[arg-type]
    server.repstr = "<test connection>"
    yield server, peer, reactor
    mine.close()
    peer.close()


def _read(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += peer.recv(size - len(data))
    return data


def test_a_write_with_nothing_buffered_goes_out_at_once(pair):
    server, peer, reactor = pair

    server.write(b"frame one")

    assert _read(peer, 9) == b"frame one"
    assert reactor.writers == []  # never registered with the loop


def test_a_write_behind_buffered_bytes_waits_for_them(pair):
    server, peer, reactor = pair
    server._tempDataBuffer, server._tempDataLen = [b"first "], 6  # waiting for the loop

    server.write(b"second")

    assert reactor.writers == [server]
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)  # nothing overtook the buffered bytes
    peer.setblocking(True)
    assert server.doWrite() is None
    assert _read(peer, 12) == b"first second"
    assert reactor.writers == []


def test_what_the_socket_does_not_take_is_buffered_in_order(pair):
    server, peer, reactor = pair
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    big = bytes(range(256)) * 4096  # 1 MiB: more than the socket takes at once

    server.write(big)
    server.write(b"tail")

    assert reactor.writers == [server]  # the rest waits for the writable callback
    received = bytearray()
    while len(received) < len(big) + 4:
        server.doWrite()
        received += peer.recv(1 << 20)
    assert bytes(received) == big + b"tail"


def test_an_error_is_left_to_the_writable_callback(pair):
    server, peer, reactor = pair
    peer.close()

    server.write(b"into the void")  # the send fails: buffered, as Twisted would

    assert reactor.writers == [server]
    assert server.doWrite() is main.CONNECTION_LOST


def test_a_closing_connection_writes_as_twisted_does(pair):
    server, _peer, reactor = pair
    server.disconnecting = True

    server.write(b"last words")

    assert reactor.writers == [server]


def test_install_makes_ports_accept_eager_connections(monkeypatch):
    monkeypatch.setattr(tcp.Port, "transport", tcp.Server)
    eager_write.install()
    assert tcp.Port.transport is EagerServer
