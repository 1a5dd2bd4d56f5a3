"""chat.streaming.Generation on its own: coalescing, backpressure, checkpoints, snapshots."""

from __future__ import annotations

import asyncio
import html
import re
import threading

import pytest
from channels.db import database_sync_to_async

from chat import frames, services, streaming
from chat.batching import Batcher
from chat.models import Message
from chat.streaming import State, Subscriber, registry
from gateway.types import ChatDelta
from tests.factories import make_conversation
from tests.sockets import FakeStream, delta_texts, finished, streamed_view

pytestmark = pytest.mark.django_db(transaction=True)


class Socket:
    """A subscriber's socket that records frames; `hold` makes sends wait until released."""

    def __init__(self, *, hold: bool = False) -> None:
        self.frames: list[str] = []
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def send(self, frame: str) -> None:
        await self.release.wait()
        self.frames.append(frame)


class RecordingLayer:
    """Stands for a Redis layer (scale mode): not the in-memory one."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    async def group_send(self, group: str, event: dict) -> None:
        self.events.append(event)

    def of_type(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["type"] == kind]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def reply_start(team, alice):
    conversation = make_conversation(team, alice)
    return services.begin_reply(
        conversation_id=conversation.pk, user=alice, action="send", text="Hi"
    )


@pytest.fixture
def use_stream(monkeypatch):
    def install(stream) -> None:
        monkeypatch.setattr("gateway.chat.stream_chat", stream)

    return install


def start(reply_start, socket: Socket | None = None, layer=None, can_write=True):
    subscriber = Subscriber(send=socket.send, can_write=can_write) if socket else None
    return registry.start(reply_start, layer=layer, subscriber=subscriber)


async def get_message(pk: int) -> Message:
    return await database_sync_to_async(Message.objects.get)(pk=pk)


async def test_the_first_token_goes_at_once_and_the_rest_coalesce(reply_start, use_stream):
    tokens = [f"w{i} " for i in range(100)]
    use_stream(FakeStream(tokens))  # no pause between tokens: one flush window
    socket = Socket()

    generation = start(reply_start, socket)
    await finished(generation)

    pk = reply_start.assistant_id
    assert delta_texts(socket.frames, pk) == ["w0 ", "".join(tokens[1:])]
    assert len(socket.frames) == 3
    assert 'data-message-status="complete"' in socket.frames[-1]
    assert (await get_message(pk)).content == "".join(tokens)


async def test_deltas_are_escaped(reply_start, use_stream):
    use_stream(FakeStream(["<script>", "&amp;"]))
    socket = Socket()

    await finished(start(reply_start, socket))

    assert socket.frames[0].endswith(">&lt;script&gt;</div>")
    assert socket.frames[1].endswith(">&amp;amp;</div>")


async def test_tokens_pause_and_flush_on_the_timer(reply_start, use_stream, settings):
    settings.STREAM_FLUSH_MS = 1
    stream = FakeStream(["a", "b", "c", "d"], gate_at=3)
    use_stream(stream)
    socket = Socket()

    generation = start(reply_start, socket)
    while len(socket.frames) < 2:  # "a" at once, then "bc" when the timer fires
        await asyncio.sleep(0.01)
    stream.gate.set()
    await finished(generation)

    assert delta_texts(socket.frames, reply_start.assistant_id) == ["a", "bc", "d"]


async def test_a_slow_socket_falls_back_to_the_final_swap(reply_start, use_stream, monkeypatch):
    monkeypatch.setattr(streaming, "MAX_PENDING_CHARS", 10)
    stream = FakeStream(["first", "x" * 8, "y" * 8, "z"], gate_at=3)
    use_stream(stream)
    slow, fast = Socket(hold=True), Socket()

    generation = start(reply_start, slow)
    generation.subscribe(Subscriber(send=fast.send, can_write=False), snapshot=False)
    while not fast.frames:
        await asyncio.sleep(0)
    generation._flush()  # the slow socket still owes its first frame: skipped, now lagging
    slow.release.set()
    stream.gate.set()
    await finished(generation)

    pk = reply_start.assistant_id
    assert delta_texts(slow.frames, pk) == ["first"]
    assert 'data-message-status="complete"' in slow.frames[-1]
    assert "".join(delta_texts(fast.frames, pk)) == "first" + "x" * 8 + "y" * 8 + "z"
    assert ">Regenerate<" in slow.frames[-1] and ">Regenerate<" not in fast.frames[-1]


async def test_a_broken_socket_does_not_end_the_reply(reply_start, use_stream):
    use_stream(FakeStream(["a", "b"]))

    async def broken(frame: str) -> None:
        raise ConnectionError("gone")

    generation = start(reply_start, None)
    generation.subscribe(Subscriber(send=broken, can_write=True), snapshot=False)
    await finished(generation)

    message = await get_message(reply_start.assistant_id)
    assert (message.status, message.content) == ("complete", "ab")


async def test_checkpoints_are_spaced_by_the_setting(
    reply_start, use_stream, monkeypatch, settings
):
    settings.STREAM_CHECKPOINT_SECONDS = 5
    settings.STREAM_FLUSH_MS = 1  # checked when deltas are flushed: here after every token
    clock = FakeClock()
    monkeypatch.setattr(streaming, "_clock", clock)
    checkpoints: list[str] = []

    def checkpoint_reply(*, message_id: int, content: str) -> None:
        checkpoints.append(content)

    monkeypatch.setattr(services, "checkpoint_reply", checkpoint_reply)

    async def twelve_seconds(**kwargs):
        for i in range(13):
            clock.now += 1
            yield streaming.ChatDelta(content=f"{i} ")
            await asyncio.sleep(0.01)  # let a running checkpoint finish
        yield streaming.ChatEnd("stop", None)

    use_stream(twelve_seconds)
    await finished(start(reply_start, Socket()))

    assert checkpoints == ["0 1 2 3 4 ", "0 1 2 3 4 5 6 7 8 9 "]


async def test_a_short_reply_is_not_checkpointed(reply_start, use_stream, monkeypatch):
    calls = []
    monkeypatch.setattr(services, "checkpoint_reply", lambda **kw: calls.append(kw))
    use_stream(FakeStream(["a"] * 50))

    await finished(start(reply_start, Socket()))

    assert calls == []


async def test_stop_before_the_first_token(reply_start, use_stream):
    stream = FakeStream(["never"], gate_at=0)
    use_stream(stream)
    socket = Socket()

    generation = start(reply_start, socket)
    generation.stop()
    await finished(generation)

    message = await get_message(reply_start.assistant_id)
    assert (message.status, message.content) == ("stopped", "")
    assert "Reply stopped." in socket.frames[-1]


async def test_an_unexpected_error_fails_the_reply_and_keeps_the_text(reply_start, use_stream):
    use_stream(FakeStream(["kept"], error=RuntimeError("bug")))

    await finished(start(reply_start, Socket()))

    message = await get_message(reply_start.assistant_id)
    assert (message.status, message.content) == ("failed", "kept")
    assert message.error == "Something went wrong while writing the reply."


async def test_reasoning_streams_into_its_own_box_before_the_answer(reply_start, use_stream):
    async def thinking(**kwargs):
        yield streaming.ChatDelta(reasoning="hmm ")
        yield streaming.ChatDelta(reasoning="<let> me see ")
        yield streaming.ChatDelta(content="Answer")
        yield streaming.ChatEnd("stop", None)

    use_stream(thinking)
    socket = Socket()
    await finished(start(reply_start, socket))

    pk = reply_start.assistant_id
    frames = "".join(socket.frames)
    box = f'id="message-{pk}-reasoning-box"'
    assert frames.count(box) == 1 and frames.index(box) < frames.index(f'id="message-{pk}-text"')
    shown = re.search(rf'id="message-{pk}-reasoning">(.*?)</div>', frames).group(1)
    appended = re.findall(
        rf'id="message-{pk}-reasoning" hx-swap-oob="beforeend">(.*?)</div>', frames
    )
    assert html.unescape(shown + "".join(appended)) == "hmm <let> me see "
    assert delta_texts(socket.frames, pk) == ["Answer"]
    message = await get_message(pk)
    assert (message.reasoning, message.content) == ("hmm <let> me see ", "Answer")


async def test_a_tab_joining_mid_reasoning_gets_it_so_far_then_the_rest(reply_start, use_stream):
    gate = asyncio.Event()

    async def thinking(**kwargs):
        yield streaming.ChatDelta(reasoning="first ")
        await gate.wait()
        yield streaming.ChatDelta(reasoning="second")
        yield streaming.ChatDelta(content="Answer")
        yield streaming.ChatEnd("stop", None)

    use_stream(thinking)
    generation = start(reply_start, Socket())
    while not generation.reasoning:
        await asyncio.sleep(0.001)
    late = Socket()
    generation.subscribe(Subscriber(send=late.send, can_write=True))
    gate.set()
    await finished(generation)

    pk = reply_start.assistant_id
    frames = "".join(late.frames)
    assert f'id="message-{pk}-reasoning">first </div>' in frames  # in the snapshot
    assert f'id="message-{pk}-reasoning" hx-swap-oob="beforeend">second</div>' in frames
    assert frames.count(f'id="message-{pk}-reasoning-box"') == 1


async def test_scale_mode_publishes_coarse_snapshots(
    reply_start, use_stream, monkeypatch, settings
):
    settings.STREAM_FLUSH_MS = 1
    clock = FakeClock()
    monkeypatch.setattr(streaming, "_clock", clock)

    async def slow_tokens(**kwargs):
        for i in range(20):
            clock.now += 0.1  # two seconds in all
            yield streaming.ChatDelta(content=f"{i} ")
            await asyncio.sleep(0.005)
        yield streaming.ChatEnd("stop", None)

    use_stream(slow_tokens)
    layer = RecordingLayer()
    generation = start(reply_start, Socket(), layer=layer)
    generation.announced()  # as the consumer does once reply.started is sent
    await finished(generation)

    snapshots = layer.of_type("reply.snapshot")
    assert 1 <= len(snapshots) <= 5  # at most one per half second of the clock
    assert layer.of_type("reply.finished") == [
        {"type": "reply.finished", "message_id": reply_start.assistant_id}
    ]
    assert all(e["message_id"] == reply_start.assistant_id for e in snapshots)


async def test_no_snapshot_goes_before_the_reply_is_announced(
    reply_start, use_stream, monkeypatch, settings
):
    """Tabs of other processes draw the reply's element from reply.started: a snapshot sent
    before it named an element they did not have (htmx:oobErrorNoTarget in a follower tab)."""
    settings.STREAM_FLUSH_MS = 1
    clock = FakeClock()
    monkeypatch.setattr(streaming, "_clock", clock)
    gate = asyncio.Event()

    async def tokens(**kwargs):
        for i in range(20):
            clock.now += 0.1
            if i == 10:
                await gate.wait()
            yield streaming.ChatDelta(content=f"{i} ")
            await asyncio.sleep(0.005)
        yield streaming.ChatEnd("stop", None)

    use_stream(tokens)
    layer = RecordingLayer()
    socket = Socket()
    generation = start(reply_start, socket, layer=layer)
    while generation.length < 20:  # "0 " ... "9 ": a second of the clock streamed
        await asyncio.sleep(0.005)
    assert layer.of_type("reply.snapshot") == []

    generation.announced()
    gate.set()
    await finished(generation)
    snapshots = layer.of_type("reply.snapshot")
    assert snapshots and snapshots[0]["content"].startswith("0 1 2 ")


async def test_the_in_memory_layer_gets_no_snapshots(reply_start, use_stream):
    from channels.layers import InMemoryChannelLayer

    layer = InMemoryChannelLayer()
    sent = []
    original = layer.group_send

    async def recording(group, event):
        sent.append(event["type"])
        await original(group, event)

    use_stream(FakeStream(["a"] * 30))
    generation = start(reply_start, Socket(), layer=layer)
    layer.group_send = recording
    try:
        await finished(generation)
    finally:
        del layer.group_send

    assert sent == ["reply.finished"]


async def test_the_registry_holds_one_reply_per_conversation(reply_start, use_stream):
    stream = FakeStream(["a"], gate_at=0)
    use_stream(stream)
    conversation_id = reply_start.conversation.pk

    generation = start(reply_start)

    assert registry.get(reply_start.assistant_id) is generation
    assert registry.for_conversation(conversation_id) is generation
    assert not registry.reserve(conversation_id)
    stream.gate.set()
    await finished(generation)
    assert registry.get(reply_start.assistant_id) is None
    assert registry.reserve(conversation_id)
    registry.release(conversation_id)
    assert registry.for_conversation(conversation_id) is None


async def test_a_held_subscriber_gets_no_delta_until_released_then_all_it_is_owed(
    reply_start, use_stream
):
    stream = FakeStream(["a", "b", "c", "d"], gate_at=2)
    use_stream(stream)
    socket = Socket()
    subscriber = Subscriber(send=socket.send, can_write=True, state=State.HELD)

    generation = registry.start(reply_start, layer=None, subscriber=subscriber)
    while generation.length < 2:  # "a" and "b" arrived while the tab's first frame is pending
        await asyncio.sleep(0)
    generation._flush()
    assert socket.frames == []

    generation.release(subscriber)
    await subscriber.sending  # each frame is sent by a task of its own
    pk = reply_start.assistant_id
    assert delta_texts(socket.frames, pk) == ["ab"]
    stream.gate.set()
    await finished(generation)

    assert "".join(delta_texts(socket.frames, pk)) == "abcd"  # nothing lost or repeated
    assert 'data-message-status="complete"' in socket.frames[-1]


async def test_the_end_of_a_reply_waits_for_a_held_subscriber(reply_start, use_stream):
    stream = FakeStream(["a", "b"])
    use_stream(stream)
    socket = Socket()
    subscriber = Subscriber(send=socket.send, can_write=True, state=State.HELD)

    generation = registry.start(reply_start, layer=None, subscriber=subscriber)
    while not stream.finished:
        await asyncio.sleep(0)
    for _ in range(10):
        await asyncio.sleep(0)
    assert socket.frames == [] and not generation.task.done()

    generation.release(subscriber)
    await finished(generation)

    pk = reply_start.assistant_id
    assert delta_texts(socket.frames, pk) == ["ab"]
    assert len(socket.frames) == 2 and 'data-message-status="complete"' in socket.frames[-1]
    assert (await get_message(pk)).content == "ab"


async def test_a_send_that_waits_finishes_in_a_task_and_keeps_order(reply_start, use_stream):
    stream = FakeStream(["a", "b", "c"], gate_at=1)
    use_stream(stream)
    socket = Socket(hold=True)

    generation = start(reply_start, socket)
    subscriber = generation.subscribers[0]
    while subscriber.sending is None:
        await asyncio.sleep(0)
    assert subscriber.busy and socket.frames == []  # "a" is waiting on the socket
    stream.gate.set()
    await asyncio.sleep(0.01)
    socket.release.set()
    await finished(generation)

    assert "".join(delta_texts(socket.frames, reply_start.assistant_id)) == "abc"
    assert delta_texts(socket.frames, reply_start.assistant_id)[0] == "a"


async def test_a_reply_whose_conversation_is_deleted_stops_at_its_next_checkpoint(
    reply_start, use_stream, settings
):
    # No tab open, or the tab in another process: the checkpoint finds no streaming row.
    settings.STREAM_CHECKPOINT_SECONDS = 0
    settings.STREAM_FLUSH_MS = 1
    first_sent, state = asyncio.Event(), {"tokens": 0, "closed": False}

    async def endless(**kwargs):
        try:
            for i in range(2000):
                yield streaming.ChatDelta(content=f"{i} ")
                state["tokens"] += 1
                first_sent.set()
                await asyncio.sleep(0.001)  # a gateway's pace, so flushes (and checkpoints) run
            yield streaming.ChatEnd("stop", None)
        finally:
            state["closed"] = True

    use_stream(endless)
    generation = start(reply_start)
    await first_sent.wait()

    await database_sync_to_async(reply_start.conversation.delete)()
    await finished(generation)

    assert state["closed"] and state["tokens"] < 2000  # closed, not read to the end
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_the_final_html_is_rendered_off_the_database_thread(
    reply_start, use_stream, monkeypatch
):
    threads: dict[str, int] = {}
    stored_html = frames.stored_html

    def recording_stored_html(*args, **kwargs):
        threads["render"] = threading.get_ident()
        return stored_html(*args, **kwargs)

    def recording_finish_replies(ends):
        threads["database"] = threading.get_ident()
        return services.finish_replies(ends)

    monkeypatch.setattr(frames, "stored_html", recording_stored_html)
    monkeypatch.setattr(streaming, "final_save", Batcher(recording_finish_replies))
    use_stream(FakeStream(["Some **bold** text"]))

    await finished(start(reply_start, Socket()))

    assert threads["render"] != threads["database"]
    assert threads["render"] != threading.get_ident()  # nor on the event loop
    message = await get_message(reply_start.assistant_id)
    assert "<strong>bold</strong>" in message.html


async def test_blocks_go_once_and_a_late_tab_gets_the_same_rendered_prefix(reply_start, use_stream):
    pieces = ["Intro", " text\n", "\n- a\n- b\n", "\nAfter the list\n\n", "Tail"]
    stream = FakeStream([*pieces, " end"], gate_at=len(pieces))
    use_stream(stream)
    socket = Socket()
    generation = start(reply_start, socket)
    pk = reply_start.assistant_id
    while generation.length < len("".join(pieces)):
        await asyncio.sleep(0.001)
    generation._flush()
    late = Socket()
    generation.subscribe(Subscriber(send=late.send, can_write=True))
    await asyncio.wait_for(generation._wait_sending(), 5)

    view = streamed_view(socket.frames, pk)
    assert view == streamed_view(late.frames, pk)
    assert view == (
        "<p>Intro text</p>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<p>After the list</p>\n",
        "Tail",
    )
    sent = "".join(socket.frames)
    assert sent.count("<p>Intro text</p>") == 1 and sent.count("<ul>") == 1
    assert generation.live.render_calls == len(generation.live.blocks)
    stream.gate.set()
    await finished(generation)
    assert (await get_message(pk)).html == view[0] + "<p>Tail end</p>\n"


class TwoPhaseStream(FakeStream):
    """`first`, then after `gate` `second` and after `gate2` the end."""

    def __init__(self, first, second) -> None:
        super().__init__([*first, *second], gate_at=len(first))
        self.second_at = len(first) + len(second)
        self.gate2 = asyncio.Event()

    async def __call__(self, **kwargs):
        async for item in super().__call__(**kwargs):
            if not isinstance(item, ChatDelta):
                await self.gate2.wait()
            yield item


async def _streamed_to(generation, length: int) -> None:
    while generation.length < length:
        await asyncio.sleep(0.001)
    generation._flush()
    await asyncio.wait_for(generation._wait_sending(), 5)


async def test_an_open_fence_streams_inside_its_code_box(reply_start, use_stream):
    first, second = ["Intro\n\n", "```python\n", "x = 1\n"], ["y = <2\n"]
    stream = TwoPhaseStream(first, second)
    use_stream(stream)
    socket = Socket()
    generation = start(reply_start, socket)
    pk = reply_start.assistant_id

    await _streamed_to(generation, len("".join(first)))
    drawn = socket.frames[-1]
    assert (
        f'<div id="message-{pk}-text" hx-swap-oob="innerHTML"><div class="codeblock is-open"'
        in drawn
    )
    assert f'<code id="message-{pk}-code" class="language-python">x = 1\n</code>' in drawn
    assert "```" not in "".join(socket.frames)  # the fence's markup is never shown

    stream.gate.set()
    await _streamed_to(generation, len("".join(first + second)))
    assert (
        socket.frames[-1]
        == f'<div id="message-{pk}-code" hx-swap-oob="beforeend">y = &lt;2\n</div>'
    )
    stream.gate2.set()
    await finished(generation)


async def test_an_open_table_streams_row_by_row(reply_start, use_stream):
    first, second = ["| a | b |\n", "|---|---|\n", "| 1 | 2 |\n", "| 3 "], ["| 4 |\n"]
    stream = TwoPhaseStream(first, second)
    use_stream(stream)
    socket = Socket()
    generation = start(reply_start, socket)
    pk = reply_start.assistant_id

    await _streamed_to(generation, len("".join(first)))
    sent = "".join(socket.frames)
    assert f'<tbody id="message-{pk}-rows">\n<tr>\n<td>1</td>' in sent
    assert "| 3" not in sent and "|---|" not in sent  # no raw markdown on screen

    stream.gate.set()
    await _streamed_to(generation, len("".join(first + second)))
    assert socket.frames[-1] == (
        f'<template><tbody id="message-{pk}-rows" hx-swap-oob="beforeend">'
        "<tr>\n<td>3</td>\n<td>4</td>\n</tr>\n</tbody></template>"
    )
    stream.gate2.set()
    await finished(generation)
