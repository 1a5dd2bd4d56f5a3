"""The final save of a reply when the database does not answer: tried again until it does, the
whole text stored once, charged once with the gateway's counts; and a reply stored whole by
its process after another process had ended it corrects the charge instead of doubling it."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.db import OperationalError

from chat import batching, services, streaming
from chat.batching import Batcher
from chat.models import Message
from chat.streaming import Subscriber, registry
from gateway.types import ChatEnd, Usage
from tests.factories import make_conversation
from tests.sockets import FakeStream, finished
from tests.usage.ledger import assert_ledger_balances
from usage.models import Price, UsageRecord

TOKENS = [f"word{i} " for i in range(120)]
USAGE = Usage(prompt_tokens=17, completion_tokens=240, total_tokens=257)


@pytest.fixture
def price(db):
    return Price.objects.create(
        model="gpt-4o-mini", prompt_per_1k=Decimal(1), completion_per_1k=Decimal(2)
    )


@pytest.fixture
def database_away(monkeypatch):
    """The final save fails with the database's error for its first `failures` attempts, at
    the seam the generation reaches the database through (chat.streaming.final_save, whose
    batch function runs on the database thread)."""
    state = {"failures": 0, "attempts": 0}

    def flaky(ends):
        state["attempts"] += 1
        if state["attempts"] <= state["failures"]:
            raise OperationalError("server closed the connection unexpectedly")
        return services.finish_replies(ends)

    monkeypatch.setattr(streaming, "final_save", Batcher(flaky))
    monkeypatch.setattr(streaming, "SAVE_RETRY_FIRST", 0.01)
    monkeypatch.setattr(streaming, "SAVE_RETRY_MAX", 0.05)
    return state


class Socket:
    def __init__(self) -> None:
        self.frames: list[str] = []

    async def send(self, frame: str) -> None:
        self.frames.append(frame)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("price")
async def test_a_final_save_the_database_refuses_is_tried_again_and_charged_once(
    team, alice, monkeypatch, database_away
):
    database_away["failures"] = 4
    monkeypatch.setattr("gateway.chat.stream_chat", FakeStream(TOKENS, end=ChatEnd("stop", USAGE)))
    start = await database_sync_to_async(
        lambda: services.begin_reply(
            conversation_id=make_conversation(team, alice).pk, user=alice, action="send", text="Go"
        )
    )()
    # The last checkpoint before the outage holds only the beginning.
    await database_sync_to_async(services.checkpoint_reply)(
        message_id=start.assistant_id, content="".join(TOKENS[:40])
    )
    socket = Socket()

    generation = registry.start(
        start, layer=None, subscriber=Subscriber(send=socket.send, can_write=True)
    )
    await asyncio.wait_for(finished(generation), 10)

    assert database_away["attempts"] == 5
    message = await Message.objects.aget(pk=start.assistant_id)
    assert (message.status, message.content) == (Message.Status.COMPLETE, "".join(TOKENS))
    records = [r async for r in UsageRecord.objects.filter(team=team)]
    assert len(records) == 1
    record = records[0]
    assert record.status == UsageRecord.Status.SETTLED and not record.estimated
    assert (record.prompt_tokens, record.completion_tokens) == (17, 240)
    finals = [f for f in socket.frames if 'data-message-status="complete"' in f]
    assert len(finals) == 1 and socket.frames[-1] == finals[0]  # once saved, last
    await database_sync_to_async(assert_ledger_balances)(team)


@pytest.mark.django_db
@pytest.mark.usefixtures("price")
def test_a_reply_swept_while_its_process_lived_is_stored_whole_and_charge_corrected(team, alice):
    start = services.begin_reply(
        conversation_id=make_conversation(team, alice).pk, user=alice, action="send", text="Go"
    )
    services.checkpoint_reply(message_id=start.assistant_id, content="abcd" * 10)
    assert services.interrupt_reply(start.assistant, error="gone")  # the sweep: 10 tokens
    swept = UsageRecord.objects.get(message_id=start.assistant_id)
    assert swept.estimated and swept.completion_tokens == 10

    for _ in range(2):  # the save, and the same save once more: corrected once
        services.finish_reply(
            message_id=start.assistant_id,
            content="abcd" * 100,
            html="<p>whole</p>",
            status=Message.Status.COMPLETE,
            finish_reason="stop",
            usage=USAGE,
        )

    message = Message.objects.get(pk=start.assistant_id)
    assert (message.status, message.content) == (Message.Status.COMPLETE, "abcd" * 100)
    corrections = UsageRecord.objects.filter(team=team, kind=UsageRecord.Kind.CORRECTION)
    assert corrections.count() == 1
    # What the gateway's counts cost: 17 prompt tokens at 1/1K, 240 completion tokens at 2/1K.
    assert swept.cost + corrections.get().cost == Decimal("0.497")
    assert_ledger_balances(team)


@pytest.mark.django_db(transaction=True)
async def test_a_save_failing_for_another_reason_still_fails_the_reply_at_once(
    team, alice, monkeypatch
):
    def broken(ends):
        raise RuntimeError("a bug")

    monkeypatch.setattr(streaming, "final_save", Batcher(broken))
    monkeypatch.setattr("gateway.chat.stream_chat", FakeStream(["Lost"]))
    start = await database_sync_to_async(
        lambda: services.begin_reply(
            conversation_id=make_conversation(team, alice).pk, user=alice, action="send", text="Go"
        )
    )()

    await asyncio.wait_for(finished(registry.start(start, layer=None, subscriber=None)), 10)

    assert (await Message.objects.aget(pk=start.assistant_id)).status == Message.Status.FAILED


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("price")
async def test_ends_queued_behind_a_running_save_are_stored_as_one_batch(
    team, alice, monkeypatch, settings
):
    settings.MAX_CONCURRENT_REPLIES = 5
    batches: list[list[int]] = []
    first_running, go_on = threading.Event(), threading.Event()

    def recording(ends):
        batches.append([end.message_id for end in ends])
        if len(batches) == 1:  # the database thread is busy with the first end
            first_running.set()
            go_on.wait(5)
        return services.finish_replies(ends)

    monkeypatch.setattr(streaming, "final_save", Batcher(recording))
    # One batch at a time, as on SQLite (PostgreSQL runs a few side by side).
    monkeypatch.setattr(batching, "CONCURRENT_LANES", 1)
    monkeypatch.setattr("gateway.chat.stream_chat", FakeStream(["Done."]))
    starts = [
        await database_sync_to_async(
            lambda: services.begin_reply(
                conversation_id=make_conversation(team, alice).pk,
                user=alice,
                action="send",
                text="Go",
            )
        )()
        for _ in range(5)
    ]
    first = registry.start(starts[0], layer=None, subscriber=None)
    await asyncio.to_thread(first_running.wait, 5)
    rest = [registry.start(start, layer=None, subscriber=None) for start in starts[1:]]
    while len(streaming.final_save.queue) < len(rest):  # each has read its stream and queued
        await asyncio.sleep(0.01)
    go_on.set()
    await asyncio.wait_for(asyncio.gather(*(finished(g) for g in [first, *rest])), 10)

    ids = [start.assistant_id for start in starts]
    assert [sorted(batch) for batch in batches] == [ids[:1], sorted(ids[1:])]
    stored = Message.objects.filter(pk__in=ids, status=Message.Status.COMPLETE, content="Done.")
    assert await stored.acount() == 5
    await database_sync_to_async(assert_ledger_balances)(team)
