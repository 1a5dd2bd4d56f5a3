from __future__ import annotations

import asyncio
import importlib.util
import sys

import pytest

from gateway.client import (
    LinearPool,
    aclose_clients,
    get_client,
    get_sync_client,
    origin,
    read_json,
    use_transport,
)
from gateway.errors import GatewayBadResponse, GatewayNotConfigured
from tests.gateway.fakes import API_KEY, respond, respond_json


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://x/v1/", "https://x"),
        ("https://x/v1", "https://x"),
        ("  https://x/  ", "https://x"),
        ("https://x", "https://x"),
        ("http://127.0.0.1:3000/v1//", "http://127.0.0.1:3000"),
        ("https://x/openai/v1", "https://x/openai"),
    ],
)
def test_origin_is_normalised(settings, value, expected):
    settings.GATEWAY_BASE_URL = value
    assert origin() == expected


@pytest.mark.parametrize("value", ["", "   ", "/v1", "gw.example.com"])
def test_origin_requires_a_web_address(settings, value):
    settings.GATEWAY_BASE_URL = value
    with pytest.raises(GatewayNotConfigured) as info:
        origin()
    assert "GATEWAY_BASE_URL" in info.value.user_message


async def test_one_client_is_shared_per_loop_and_rebuilt_when_settings_change(gateway, settings):
    client = get_client()
    assert get_client() is client
    assert str(client.base_url) == "https://gw.example"
    assert client.headers["authorization"] == f"Bearer {API_KEY}"
    settings.GATEWAY_READ_TIMEOUT = 7.0
    rebuilt = get_client()
    assert rebuilt is not client
    assert rebuilt.timeout.read == 7.0
    await aclose_clients()
    assert rebuilt.is_closed
    assert get_client() is not rebuilt


def test_each_event_loop_gets_its_own_client(gateway):
    async def build():
        return asyncio.get_running_loop(), get_client()

    first_loop, first = asyncio.run(build())
    second_loop, second = asyncio.run(build())
    assert first_loop is not second_loop
    assert first is not second


async def test_timeouts_come_from_settings(gateway, settings):
    settings.GATEWAY_CONNECT_TIMEOUT = 3.0
    settings.GATEWAY_READ_TIMEOUT = 120.0
    timeout = get_client().timeout
    assert (timeout.connect, timeout.read, timeout.pool) == (3.0, 120.0, 3.0)


def test_no_key_means_no_authorization_header(gateway, settings):
    settings.GATEWAY_API_KEY = ""
    gateway.reply(respond_json(200, {"data": []}))
    with get_sync_client() as client:
        client.get("/v1/models")
    assert "authorization" not in gateway.requests[0].headers


def test_the_sync_client_uses_the_test_transport(gateway):
    gateway.reply(respond_json(200, {"ok": True}))
    with get_sync_client() as client:
        response = client.get("/v1/models")
    assert read_json(response) == {"ok": True}
    request = gateway.requests[0]
    assert request.url == "https://gw.example/v1/models"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"


def test_read_json_refuses_a_web_page_and_broken_json(gateway):
    page = respond(200, [b"<!doctype html><html>"], content_type="text/html")
    broken = respond(200, [b'{"data": ['], content_type="application/json")
    for response in (page, broken):
        response.read()
        with pytest.raises(GatewayBadResponse):
            read_json(response)


class _ImportWatcher:
    """A meta path finder that records which modules Python searched for."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        self.searched.append(name)


async def test_building_the_client_stops_httpcore_searching_for_sniffio(gateway, monkeypatch):
    from httpcore._synchronization import current_async_library

    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # not installed
    watcher = _ImportWatcher()
    monkeypatch.setattr(sys, "meta_path", [watcher, *sys.meta_path])
    assert current_async_library() == "asyncio"
    assert watcher.searched == ["sniffio"]  # before: a search of sys.path per call

    get_client()
    watcher.searched.clear()
    assert current_async_library() == "asyncio"
    assert watcher.searched == []


async def test_an_installed_sniffio_is_left_to_be_imported(gateway, monkeypatch):
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())  # installed
    get_client()
    assert "sniffio" not in sys.modules


class FakeConnection:
    """What the pool's assignment pass asks of a connection."""

    def __init__(self, state: str = "idle") -> None:
        self.state = state
        self.idle_checks = 0

    def is_closed(self) -> bool:
        return self.state == "closed"

    def has_expired(self) -> bool:
        return self.state == "expired"

    def is_idle(self) -> bool:
        self.idle_checks += 1
        return self.state == "idle"

    def is_available(self) -> bool:
        return self.state == "idle"

    def can_handle_request(self, origin: object) -> bool:
        return True


def _pool(connections: list[FakeConnection], *, keepalive: int, most: int = 256) -> LinearPool:
    pool = LinearPool(max_connections=most, max_keepalive_connections=keepalive)
    pool._connections = list(connections)  # type: ignore[arg-type]
    return pool


def test_the_pool_keeps_idle_connections_up_to_the_limit_however_many_are_busy():
    busy = [FakeConnection("busy") for _ in range(100)]
    idle = [FakeConnection() for _ in range(10)]
    pool = _pool([*busy, *idle], keepalive=64)

    assert pool._assign_requests_to_connections() == []  # httpcore 1.0 closed all 10
    assert pool._connections == [*busy, *idle]


def test_the_pool_closes_only_the_oldest_idle_connections_over_the_limit():
    idle = [FakeConnection() for _ in range(5)]
    spent = [FakeConnection("closed"), FakeConnection("expired")]
    pool = _pool([*idle, *spent, FakeConnection("busy")], keepalive=3)

    closing = pool._assign_requests_to_connections()

    assert closing == [spent[1], idle[0], idle[1]]
    assert pool._connections[:3] == idle[2:]
    assert len(pool._connections) == 4


def test_the_pool_asks_each_connection_whether_it_is_idle_a_few_times_not_per_connection():
    connections = [FakeConnection() for _ in range(200)]
    pool = _pool(connections, keepalive=256)

    pool._assign_requests_to_connections()

    assert max(c.idle_checks for c in connections) <= 2  # httpcore 1.0: 200 each


async def test_the_shared_client_uses_the_linear_pool(gateway, settings):
    settings.GATEWAY_BASE_URL = "http://127.0.0.1:9"
    with use_transport(None):
        pool = get_client()._transport.inner._pool  # type: ignore[attr-defined]
    assert type(pool) is LinearPool
