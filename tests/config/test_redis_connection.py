"""A cancelled channel-layer read ends whenever its cancellation comes (scale mode)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from redis.asyncio.connection import Connection

from config.asgi import application
from config.redis_connection import (
    CancellableConnection,
    CancellableSSLConnection,
    CancellableUnixConnection,
    KeepsCancellations,
    connection_class,
)

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the scale-mode suite)"
)


class SwallowsCancellation:
    """What asyncio.wait_for does on Python 3.11 when the cancellation comes in the turn the
    write completes: it returns instead of raising."""

    async def send_packed_command(self, command, check_health=True):
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return


class Guarded(KeepsCancellations, SwallowsCancellation):
    pass


async def test_a_swallowed_cancellation_is_raised_again():
    task = asyncio.ensure_future(Guarded().send_packed_command(b"PING"))
    await asyncio.sleep(0)
    task.cancel()
    async with asyncio.timeout(1):
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_write_nobody_cancelled_returns():
    class Writes:
        async def send_packed_command(self, command, check_health=True):
            await asyncio.sleep(0)

    class GuardedWrites(KeepsCancellations, Writes):
        pass

    async with asyncio.timeout(1):
        await GuardedWrites().send_packed_command(b"PING")


async def test_a_timeout_around_a_swallowed_cancellation_still_times_out():
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await Guarded().send_packed_command(b"PING")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", CancellableConnection),
        ("rediss://redis.example:6380/0", CancellableSSLConnection),
        ("unix:///run/redis/redis.sock?db=0", CancellableUnixConnection),
    ],
)
def test_the_class_follows_the_urls_scheme(url, expected):
    assert connection_class(url) is expected
    assert issubclass(expected, KeepsCancellations)


@needs_redis
async def test_a_read_cancelled_at_any_moment_of_its_first_command_ends():
    """The channel read is cancelled after 0, 1, 2... loop turns: while it connects, says
    hello, writes, reads. On Python 3.11 with redis-py's own connection, about one in five went
    on to wait on BZPOPMIN for ever."""
    stuck = []
    for turns in range(40):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        read = asyncio.ensure_future(layer.receive(channel))
        for _ in range(turns):
            await asyncio.sleep(0)
        read.cancel()
        done, _ = await asyncio.wait([read], timeout=1)
        if not done:
            stuck.append(turns)
            read.cancel()
        await layer.close_pools()
    assert stuck == []


@needs_redis
async def test_a_refused_handshake_ends_at_once():
    """A socket refused for its origin ends its consumer as soon as the client has gone, which
    waited out the whole disconnect timeout when the read swallowed its cancellation."""
    headers = [(b"host", b"testserver"), (b"origin", b"http://evil.example")]
    for _ in range(3):
        communicator = WebsocketCommunicator(application, "/ws/chat/nowhere/", headers=headers)
        connected, _ = await communicator.connect(timeout=3)
        assert not connected
        async with asyncio.timeout(0.5):
            await communicator.disconnect(timeout=3)
    pool = get_channel_layer().create_pool(0)  # as the layer makes them
    assert issubclass(pool.connection_class, KeepsCancellations)
    assert not issubclass(Connection, KeepsCancellations)


def test_parlors_own_code_never_waits_through_asyncio_wait_for():
    """The same loss in our own loops: on Python 3.11 a poller or embedder cancelled in the
    turn its wake-up event was set would go on running. asyncio.timeout keeps it."""
    root = Path(__file__).resolve().parents[2]
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if not path.is_relative_to(root / ".venv")
        and not path.is_relative_to(root / "tests")
        and "asyncio.wait_for(" in path.read_text()
    ]
    assert offenders == []
