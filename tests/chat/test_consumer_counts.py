"""The token path's budget (docs/design.md, The token path): per token 0 ORM calls,
0 channel-layer messages and less than one websocket frame; per reply one transaction before
and one after."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from channels.layers import get_channel_layer
from django.db.backends.utils import CursorWrapper

import gateway.chat
from chat import services, starts, streaming
from gateway.types import ChatDelta
from tests.sockets import (
    assistant_id_in,
    get_message,
    is_delta,
    is_final,
    receive_until,
    send_action,
    streamed_text,
)

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Meter:
    """Counts, split by phase: "before" the first token, "flowing", and "after" the last."""

    phase: str = "before"
    deltas: int = 0
    queries: dict[str, list[str]] = field(default_factory=dict)
    layer_messages: dict[str, list[str]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def query(self, sql: str) -> None:
        self.queries.setdefault(self.phase, []).append(sql)

    def layer_message(self, kind: str) -> None:
        self.layer_messages.setdefault(self.phase, []).append(kind)

    def call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def reset(self) -> None:
        self.__init__()


@pytest.fixture
def meter(monkeypatch) -> Meter:
    meter = Meter()
    _count_queries(monkeypatch, meter)
    _count_layer_messages(monkeypatch, meter)
    _count_service_calls(monkeypatch, meter)
    _mark_phases(monkeypatch, meter)
    return meter


def _count_queries(monkeypatch, meter: Meter) -> None:
    # Every thread's connection (database_sync_to_async runs in a worker thread).
    execute, executemany = CursorWrapper._execute, CursorWrapper._executemany

    def counted_execute(self, sql, *args, **kwargs):
        meter.query(sql)
        return execute(self, sql, *args, **kwargs)

    def counted_executemany(self, sql, *args, **kwargs):
        meter.query(sql)
        return executemany(self, sql, *args, **kwargs)

    monkeypatch.setattr(CursorWrapper, "_execute", counted_execute)
    monkeypatch.setattr(CursorWrapper, "_executemany", counted_executemany)


def _count_layer_messages(monkeypatch, meter: Meter) -> None:
    layer = get_channel_layer()
    send, group_send = layer.send, layer.group_send

    async def counted_send(channel, message):
        meter.layer_message(f"send {message['type']}")
        await send(channel, message)

    async def counted_group_send(group, message):
        meter.layer_message(f"group_send {message['type']}")
        await group_send(group, message)

    monkeypatch.setattr(layer, "send", counted_send)
    monkeypatch.setattr(layer, "group_send", counted_group_send)


def _count_service_calls(monkeypatch, meter: Meter) -> None:
    for name in ("begin_reply", "checkpoint_reply", "finish_reply"):
        original = getattr(services, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            meter.call(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(services, name, counted)
    # Reply starts go through their batcher (chat.starts): one call per batch.
    begin_replies = starts.start_reply.run

    def counted_batch(requests):
        meter.call("begin_replies")
        return begin_replies(requests)

    monkeypatch.setattr(starts.start_reply, "run", counted_batch)
    # Reply ends go through their batcher (chat.streaming.final_save): one call per batch.
    finish_replies = streaming.final_save.run

    def counted_ends(ends):
        meter.call("finish_replies")
        return finish_replies(ends)

    monkeypatch.setattr(streaming.final_save, "run", counted_ends)


def _mark_phases(monkeypatch, meter: Meter) -> None:
    stream_chat = gateway.chat.stream_chat

    async def marked(**kwargs):
        async for event in stream_chat(**kwargs):
            if isinstance(event, ChatDelta):
                meter.phase = "flowing"
                meter.deltas += 1
            else:
                meter.phase = "after"
            yield event
        meter.phase = "after"

    monkeypatch.setattr(gateway.chat, "stream_chat", marked)


def _scale_mode() -> bool:
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    return not isinstance(get_channel_layer(), InMemoryChannelLayer)


async def _measured_reply(socket, meter: Meter, tokens: int, demo_gateway) -> list[str]:
    demo_gateway.scenario = f"fixed_tokens:{tokens}"
    meter.reset()
    await send_action(socket, "send", text=f"{tokens} tokens please")
    first = await socket.receive_from(timeout=10)
    message_id = assistant_id_in([first])
    frames = await receive_until(socket, is_final(message_id))
    assert (await get_message(message_id)).content.count(" ") == tokens
    assert streamed_text(frames, message_id) == (await get_message(message_id)).content
    return frames


async def test_tokens_never_touch_the_orm_or_the_channel_layer(alice_socket, meter, demo_gateway):
    frames = await _measured_reply(alice_socket, meter, 200, demo_gateway)

    assert meter.deltas == 200
    assert meter.queries.get("flowing", []) == []
    # Scale mode (Redis layer) adds coarse snapshots for other processes: by time, at most
    # two a second, never per token. The in-memory layer gets none.
    flowing = meter.layer_messages.get("flowing", [])
    snapshots = [m for m in flowing if m == "group_send reply.snapshot"]
    assert [m for m in flowing if m not in snapshots] == []
    assert len(snapshots) <= (2 if _scale_mode() else 0)
    assert meter.calls == {"begin_replies": 1, "finish_replies": 1}
    # One tab in the group: the in-memory layer delivers each group_send by one send
    # (channels-redis does it inside Redis, so only the group_send shows).
    delivery = [] if _scale_mode() else ["send"]
    # When the process's last reply ends, its channel for Stop from other processes is
    # closed by one message to itself (chat.streaming.StopChannel): per reply at most one.
    assert {k: v for k, v in meter.layer_messages.items() if k != "flowing"} == {
        "before": [f"{verb} reply.started" for verb in ["group_send", *delivery]],
        "after": [
            *(f"{verb} reply.finished" for verb in ["group_send", *delivery]),
            "send chat.stop.close",
        ],
    }
    delta_frames = [f for f in frames if is_delta(f)]
    assert 2 <= len(delta_frames) < meter.deltas
    assert len(frames) + 1 < meter.deltas  # every frame, first and final included
    print(f"\n200 tokens: {len(delta_frames)} delta frames, {len(frames) + 1} frames in all")


async def test_queries_per_reply_do_not_grow_with_the_tokens(alice_socket, meter, demo_gateway):
    # The month's first charge also makes the month's budget counters: not what this compares.
    await _measured_reply(alice_socket, meter, 20, demo_gateway)
    await _measured_reply(alice_socket, meter, 20, demo_gateway)
    short = {phase: len(queries) for phase, queries in meter.queries.items()}
    await _measured_reply(alice_socket, meter, 200, demo_gateway)
    long = {phase: len(queries) for phase, queries in meter.queries.items()}

    assert short == long
    print(f"\nqueries per reply, by phase: {long}")


async def test_a_long_reply_is_checkpointed(alice_socket, meter, demo_gateway, settings):
    settings.STREAM_CHECKPOINT_SECONDS = 0  # every token may checkpoint; one at a time

    await _measured_reply(alice_socket, meter, 200, demo_gateway)

    assert 1 <= meter.calls.get("checkpoint_reply", 0) < meter.deltas
    assert meter.calls["begin_replies"] == meter.calls["finish_replies"] == 1
    checkpoint_updates = [q for q in meter.queries.get("flowing", []) if q.startswith("UPDATE")]
    assert len(checkpoint_updates) == len(meter.queries["flowing"])
