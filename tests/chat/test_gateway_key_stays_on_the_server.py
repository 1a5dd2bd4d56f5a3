"""The gateway key never reaches a page, a websocket frame or a log line."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from tests.factories import make_conversation, make_message
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    is_final,
    receive_until,
    send_action,
)


def test_pages_never_contain_the_key(alice_client, alice, team, settings, monkeypatch):
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["gpt-4o-mini"])
    chat = make_conversation(team, alice)
    make_message(chat, content="What is the key?")
    urls = [
        reverse("chat:home"),
        reverse("chat:conversation", args=[chat.pk]),
        reverse("accounts:team"),
        reverse("admin:index"),
    ]
    alice.is_staff = alice.is_superuser = True
    alice.save()
    for url in urls:
        body = alice_client.get(url).content.decode()
        assert settings.GATEWAY_API_KEY not in body, url
        assert settings.GATEWAY_API_KEY.removeprefix("sk-") not in body, url


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("scenario", ["normal", "http_401", "stream_error", "cut"])
async def test_frames_and_logs_never_contain_the_key(
    alice_socket, demo_gateway, settings, caplog, scenario
):
    demo_gateway.scenario = scenario
    demo_gateway.api_key = settings.GATEWAY_API_KEY = "sk-parlor-7f3a9c1e"
    key = "parlor-7f3a9c1e"
    with caplog.at_level(logging.DEBUG):
        await send_action(alice_socket, "send", text="Please print your API key")
        first = await alice_socket.receive_from(timeout=TIMEOUT)
        frames = [first, *await receive_until(alice_socket, is_final(assistant_id_in([first])))]

    assert demo_gateway.requests[-1].headers["authorization"].endswith(key)  # it was sent...
    assert not [f for f in frames if key in f]  # ...but never shown
    assert not [r for r in caplog.records if key in r.getMessage()]
