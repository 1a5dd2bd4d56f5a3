"""Helpers for tests that talk to ChatConsumer through the real routing (config.asgi)."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator, Iterable

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat.models import Message
from chat.rendering import render_markdown
from chat.streaming import registry
from config.asgi import application
from gateway.types import ChatDelta, ChatEnd, Usage

TIMEOUT = 10  # generous: waits for frames, never asserts on time


def cookie_for(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_socket(conversation, cookie: bytes | None = None, origin=b"http://testserver"):
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}/", headers=headers
    )
    connected, _code = await communicator.connect(timeout=TIMEOUT)
    return communicator, connected


async def send_action(communicator, action: str, **fields) -> None:
    payload = {"action": action, **fields, "HEADERS": {"HX-Request": "true"}}
    await communicator.send_to(text_data=json.dumps(payload))


async def receive_until(communicator, predicate) -> list[str]:
    """Frames received up to and including the first one matching `predicate`."""
    frames = []
    while True:
        frame = await communicator.receive_from(timeout=TIMEOUT)
        frames.append(frame)
        if predicate(frame):
            return frames


def assistant_id_in(frames: Iterable[str]) -> int:
    for frame in frames:
        match = re.search(r'id="message-(\d+)-text"', frame)
        if match:
            return int(match.group(1))
    raise AssertionError("no streaming message in the frames")


def is_delta(frame: str) -> bool:
    """A frame carrying reply text: appended to the tail, or blocks and a new tail."""
    pattern = (
        r'<div id="message-\d+-(text" hx-swap-oob="beforeend|blocks" hx-swap-oob="beforeend)">'
    )
    return re.search(pattern, frame) is not None


def is_final(message_id: int):
    return lambda frame: f'id="message-{message_id}"' in frame and 'id="live-region"' in frame


def delta_texts(frames: Iterable[str], message_id: int) -> list[str]:
    # Text is escaped, so a delta's content never contains "</div>".
    pattern = re.compile(
        rf'<div id="message-{message_id}-text" hx-swap-oob="beforeend">(.*?)</div>', re.S
    )
    return [html.unescape(text) for frame in frames for text in pattern.findall(frame)]


def streamed_view(frames: Iterable[str], message_id: int) -> tuple[str, str]:
    """What a browser shows of a streaming reply: (its rendered blocks' HTML, its plain tail).
    A snapshot sets both; a blocks frame appends HTML; a tail frame replaces the tail; a delta
    appends to it."""
    blocks, tail = "", ""
    snapshot = re.compile(
        rf'<div class="message-blocks" id="message-{message_id}-blocks">(.*?)</div>'
        rf'<div class="message-text streaming" id="message-{message_id}-text">(.*?)</div>',
        re.S,
    )
    # Blocks are the last fragment before the tail frame, which always follows them.
    appended = re.compile(
        rf'<div id="message-{message_id}-blocks" hx-swap-oob="beforeend">(.*)</div>'
        rf'(?=<div id="message-{message_id}-text" hx-swap-oob="innerHTML">)',
        re.S,
    )
    replaced = re.compile(
        rf'<div id="message-{message_id}-text" hx-swap-oob="innerHTML">(.*?)</div>', re.S
    )
    for frame in frames:
        if match := snapshot.search(frame):
            blocks, tail = match.group(1), html.unescape(match.group(2))
            continue
        if match := appended.search(frame):
            blocks += match.group(1)
        if match := replaced.search(frame):
            tail = html.unescape(match.group(1))
        tail += "".join(delta_texts([frame], message_id))
    return blocks, tail


def streamed_text(frames: Iterable[str], message_id: int) -> str:
    """The plain text a browser shows of a streaming reply with no rendered block yet (a reply
    whose blocks were rendered: use streamed_matches)."""
    blocks, tail = streamed_view(frames, message_id)
    assert not blocks, "blocks were rendered: compare with streamed_matches"
    return tail


def streamed_matches(frames: Iterable[str], message_id: int, content: str) -> bool:
    """Nothing lost or repeated: the blocks a browser got, then its tail rendered, are the
    final rendering of `content`, and the tail is the end of `content`."""
    blocks, tail = streamed_view(frames, message_id)
    if not blocks:
        return tail == content
    return content.endswith(tail) and blocks + render_markdown(tail) == render_markdown(content)


async def finished(generation) -> None:
    """Wait for a generation to end (stored, final frames sent, end announced)."""
    assert generation.task is not None
    await asyncio.shield(generation.task)


async def finish_generations() -> None:
    for generation in list(registry.by_message.values()):
        await finished(generation)


async def stop_generations() -> None:
    """Stop what a failed test left running, so it cannot hang the next one."""
    for generation in list(registry.by_message.values()):
        generation.stop()
        await finished(generation)
    registry.by_conversation.clear()


async def get_message(pk: int) -> Message:
    return await database_sync_to_async(Message.objects.get)(pk=pk)


class FakeStream:
    """Stands in for gateway.chat.stream_chat: yields `tokens`, waiting on `gate` before the
    token at index `gate_at`, then ends with `end` or raises `error`."""

    def __init__(self, tokens, *, gate_at=None, end=None, error=None) -> None:
        self.tokens = list(tokens)
        self.gate_at = gate_at
        self.gate = asyncio.Event()
        self.end = end or ChatEnd("stop", Usage(11, len(self.tokens), 11 + len(self.tokens)))
        self.error = error
        self.calls: list[dict] = []
        self.finished = False

    async def __call__(self, **kwargs) -> AsyncIterator[ChatDelta | ChatEnd]:
        self.calls.append(kwargs)
        for i, token in enumerate(self.tokens):
            if i == self.gate_at:
                await self.gate.wait()
            yield ChatDelta(content=token)
        self.finished = True
        if self.error is not None:
            raise self.error
        yield self.end


async def closed(communicator, timeout: float = TIMEOUT) -> bool:
    """Whether the server closes the socket within `timeout`; frames before the close are
    skipped. False when it is still open by then (the communicator then stops the consumer:
    to check a socket stays open, use `receive_nothing` and then ask it something)."""
    try:
        while True:
            output = await communicator.receive_output(timeout=timeout)
            if output["type"] == "websocket.close":
                return True
    except TimeoutError:
        return False


def session_key_of(cookie: bytes) -> str:
    """The session key inside a cookie made by `cookie_for`."""
    return cookie.decode().partition("=")[2]


def watch_access_changes(monkeypatch) -> asyncio.Event:
    """An event set each time a ChatConsumer has finished handling access.changed, so a
    test waits for it instead of sleeping."""
    from chat.consumers import ChatConsumer

    done = asyncio.Event()
    handle = ChatConsumer.access_changed

    async def access_changed(self, event):
        await handle(self, event)
        done.set()

    monkeypatch.setattr(ChatConsumer, "access_changed", access_changed)
    return done


async def group_size(group: str) -> int:
    """How many channels the channel layer holds in `group`: in-memory or Redis."""
    layer = get_channel_layer()
    if hasattr(layer, "groups"):  # InMemoryChannelLayer
        return len(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return await connection.zcard(layer._group_key(group))
