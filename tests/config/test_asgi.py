"""config.asgi: background consumers by channel name, and the websocket origin rule."""

from __future__ import annotations

import asyncio

import pytest
from channels.consumer import AsyncConsumer
from channels.testing import ApplicationCommunicator, WebsocketCommunicator

from config import asgi
from tests.sockets import TIMEOUT

# Channels' consumers close stale database connections around each message.
pytestmark = pytest.mark.django_db(transaction=True)


class EchoWorker(AsyncConsumer):
    received: asyncio.Queue[dict]

    async def job_ping(self, message: dict) -> None:
        await EchoWorker.received.put(message)


@pytest.fixture
def in_memory_layer(settings):
    """What these tests are about is routing by channel name. On the Redis layer (the
    scale-mode suite) a channel consumer stopped by cancelling it sometimes left a
    channels-redis task that never finished, and the test's event loop waited for it forever
    at teardown (a CI run stalled there). tests/media_jobs/test_loop.py runs a real worker
    process on Redis."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.mark.usefixtures("in_memory_layer")
async def test_a_channel_in_worker_channels_reaches_its_consumer(monkeypatch):
    monkeypatch.setitem(asgi.WORKER_CHANNELS, "test-jobs", EchoWorker.as_asgi())
    EchoWorker.received = asyncio.Queue()
    communicator = ApplicationCommunicator(
        asgi.application, {"type": "channel", "channel": "test-jobs"}
    )
    await communicator.send_input({"type": "job.ping", "job": 7})
    try:
        message = await asyncio.wait_for(EchoWorker.received.get(), TIMEOUT)
    finally:
        communicator.stop()
    assert message == {"type": "job.ping", "job": 7}


@pytest.mark.usefixtures("in_memory_layer")
async def test_an_unknown_channel_is_refused(monkeypatch):
    communicator = ApplicationCommunicator(
        asgi.application, {"type": "channel", "channel": "nobody-here"}
    )
    with pytest.raises(ValueError, match="nobody-here"):
        await communicator.wait(TIMEOUT)


async def _handshake(origin: bytes | None, host: bytes = b"testserver", scheme: str = "ws"):
    headers = [(b"host", host)]
    if origin is not None:
        headers.append((b"origin", origin))
    communicator = WebsocketCommunicator(asgi.application, "/ws/not-a-chat/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    await communicator.disconnect()
    return connected


@pytest.fixture
def past_origin(monkeypatch):
    """Behind the origin check, an app that accepts every handshake it is given."""

    async def behind(scope, receive, send):
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await receive()  # websocket.disconnect

    validator = asgi.application.application_mapping["websocket"]
    monkeypatch.setattr(validator, "application", behind)


async def _passes(origin: bytes | None, **kwargs) -> bool:
    return await _handshake(origin, **kwargs)


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        (b"http://testserver", b"testserver", "ws"),
        (b"http://localhost:8000", b"localhost:8000", "ws"),
        (b"https://testserver", b"testserver", "wss"),
    ],
)
async def test_the_same_origin_is_accepted(past_origin, origin, host, scheme):
    assert await _passes(origin, host=host, scheme=scheme)


@pytest.mark.parametrize(
    ("origin", "host", "scheme"),
    [
        (b"https://testserver", b"testserver", "ws"),  # another scheme of the same host
        (b"http://testserver:8081", b"testserver", "ws"),  # another port
        (b"http://localhost:8001", b"localhost:8000", "ws"),
        (b"http://testserver", b"testserver", "wss"),  # downgraded
        (b"http://evil.example", b"evil.example", "ws"),  # host not allowed
        (b"https://evil.example", b"testserver", "ws"),
        (b"null", b"testserver", "ws"),
        (None, b"testserver", "ws"),  # no Origin header
    ],
)
async def test_other_origins_are_refused_like_csrf_refuses_them(past_origin, origin, host, scheme):
    assert not await _passes(origin, host=host, scheme=scheme)


async def test_public_urls_origin_is_trusted_behind_a_proxy(past_origin, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert await _passes(b"https://chat.example.com", host=b"127.0.0.1:8001")
    assert not await _passes(b"http://chat.example.com", host=b"127.0.0.1:8001")


async def test_wildcard_trusted_origins_match_subdomains(past_origin, settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com"]
    assert await _passes(b"https://team.example.com", host=b"internal")
    assert not await _passes(b"http://team.example.com", host=b"internal")
