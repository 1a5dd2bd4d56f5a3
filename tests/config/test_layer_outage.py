"""Websockets while Redis is down: refused cleanly at the handshake (no 500, no traceback),
closed with a code the browser retries once open; a reconnect joins the groups again."""

from __future__ import annotations

import pytest
import redis.exceptions
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from accounts.live import user_group
from config.layer_outage import ChannelLayerDown, ChannelLayerOutage
from tests.factories import make_conversation
from tests.sockets import TIMEOUT, cookie_for, open_socket

DOWN = redis.exceptions.ConnectionError(
    "Error 111 connecting to 127.0.0.1:6379. Connection refused."
)


class JoinsOnConnect(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        raise DOWN


class FailsOnceOpen(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None) -> None:
        raise DOWN


async def test_a_handshake_while_the_layer_is_down_is_refused_not_a_500(caplog):
    communicator = WebsocketCommunicator(ChannelLayerOutage(JoinsOnConnect.as_asgi()), "/ws/")
    connected, _ = await communicator.connect(TIMEOUT)
    assert not connected  # daphne answers a refusal (403), the browser retries (1006)
    assert "the channel layer failed" in caplog.text
    await communicator.wait(TIMEOUT)  # the app ended without an exception


@pytest.mark.django_db
async def test_an_open_socket_whose_layer_fails_ends_short_for_daphne_to_close_with_1011():
    """daphne closes a socket whose application raised with 1011, which the browser retries
    (and it refuses 1012 from an application); the exception says what failed, in short."""
    communicator = WebsocketCommunicator(ChannelLayerOutage(FailsOnceOpen.as_asgi()), "/ws/")
    connected, _ = await communicator.connect(TIMEOUT)
    assert connected
    await communicator.send_to(text_data="hello")
    with pytest.raises(ChannelLayerDown, match="ConnectionError") as raised:
        await communicator.wait(TIMEOUT)
    assert raised.value.__suppress_context__


@pytest.mark.django_db(transaction=True)
async def test_the_chat_socket_is_refused_while_the_layer_is_down_and_joins_again_after(
    team, alice, monkeypatch
):
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    cookie = await database_sync_to_async(cookie_for)(alice)
    layer = get_channel_layer()
    group_add = layer.group_add

    async def down(group, channel):
        raise DOWN

    monkeypatch.setattr(layer, "group_add", down)
    communicator, connected = await open_socket(conversation, cookie)
    assert not connected
    await communicator.wait(TIMEOUT)

    monkeypatch.setattr(layer, "group_add", group_add)  # Redis is back; the tab reconnects
    communicator, connected = await open_socket(conversation, cookie)
    assert connected
    await layer.group_send(user_group(alice.pk), {"type": "fragment.push", "html": "<p>x</p>"})
    while "<p>x</p>" not in await communicator.receive_from(TIMEOUT):
        pass  # the composer's state comes first
    await communicator.disconnect()
