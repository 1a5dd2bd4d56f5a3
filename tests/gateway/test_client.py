from __future__ import annotations

import asyncio

import pytest

from gateway.client import aclose_clients, get_client, get_sync_client, origin, read_json
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
