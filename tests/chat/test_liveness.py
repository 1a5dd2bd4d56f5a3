"""Replies of a process that died (chat.liveness, config.startup.ReplySweeper): each process
beats; the others end the replies of one that stopped beating, interrupted with their last
checkpoint, charged for it, every tab told, the conversation and the member's count freed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError
from django.utils import timezone

from chat import liveness, services
from chat.models import Message, ServingProcess
from config import startup
from tests.factories import make_conversation
from tests.sockets import TIMEOUT, open_socket
from tests.usage.ledger import assert_ledger_balances
from usage.models import Price, UsageRecord

HERE, DEAD, ALIVE = "a" * 32, "d" * 32, "b" * 32


@pytest.fixture
def price(db):
    return Price.objects.create(
        model="gpt-4o-mini", prompt_per_1k=Decimal(1), completion_per_1k=Decimal(2)
    )


def _beat(process_id: str, *, seconds_ago: float = 0) -> None:
    liveness.beat(process_id=process_id, now=timezone.now() - timedelta(seconds=seconds_ago))


def _reply(conversation, user, *, owner: str, age: float = 60, text: str = "Half a reply"):
    """A reply begun `age` seconds ago by the process `owner`, checkpointed with `text`."""
    start = services.begin_reply(
        conversation_id=conversation.pk, user=user, action="send", text="Hi"
    )
    Message.objects.filter(pk=start.assistant_id).update(
        owner=owner, content=text, created_at=timezone.now() - timedelta(seconds=age)
    )
    return start.assistant


def _status(message: Message) -> str:
    message.refresh_from_db()
    return message.status


@pytest.mark.django_db
@pytest.mark.usefixtures("price")
def test_the_replies_of_a_process_that_stopped_beating_are_ended(team, alice):
    _beat(HERE)
    _beat(ALIVE, seconds_ago=5)
    _beat(DEAD, seconds_ago=liveness.STALE_SECONDS + 1)
    orphan = _reply(make_conversation(team, alice), alice, owner=DEAD)
    elsewhere = _reply(make_conversation(team, alice), alice, owner=ALIVE)
    young = _reply(make_conversation(team, alice), alice, owner=DEAD, age=1)

    ended = liveness.end_orphans(local_ids=[], process_id=HERE)

    assert ended == [(orphan.conversation_id, orphan.pk)]
    orphan.refresh_from_db()
    assert (orphan.status, orphan.content) == (Message.Status.INTERRUPTED, "Half a reply")
    record = UsageRecord.objects.get(message=orphan)  # paid for what it delivered
    assert record.status == UsageRecord.Status.SETTLED and record.completion_tokens == 3
    assert _status(elsewhere) == _status(young) == Message.Status.STREAMING
    assert_ledger_balances(team)


@pytest.mark.django_db
def test_a_process_with_no_row_at_all_is_dead(team, alice):
    orphan = _reply(make_conversation(team, alice), alice, owner=DEAD)

    assert liveness.end_orphans(local_ids=[], process_id=HERE) == [
        (orphan.conversation_id, orphan.pk)
    ]


@pytest.mark.django_db
def test_a_reply_of_this_process_that_no_generation_writes_is_ended(team, alice):
    _beat(HERE)
    written = _reply(make_conversation(team, alice), alice, owner=HERE)
    left = _reply(make_conversation(team, alice), alice, owner=HERE)

    ended = liveness.end_orphans(local_ids=[written.pk], process_id=HERE)

    assert ended == [(left.conversation_id, left.pk)]
    assert _status(written) == Message.Status.STREAMING


@pytest.mark.django_db
def test_the_conversation_and_the_members_count_are_freed(settings, team, alice):
    settings.MAX_CONCURRENT_REPLIES = 1
    conversation = make_conversation(team, alice)
    _reply(conversation, alice, owner=DEAD)
    with pytest.raises(ValidationError) as busy:
        services.begin_reply(conversation_id=conversation.pk, user=alice, action="send", text="?")
    assert busy.value.code == "busy"
    with pytest.raises(ValidationError) as too_many:
        services.begin_reply(
            conversation_id=make_conversation(team, alice).pk, user=alice, action="send", text="?"
        )
    assert too_many.value.code == "too_many_replies"

    liveness.end_orphans(local_ids=[], process_id=HERE)

    services.begin_reply(conversation_id=conversation.pk, user=alice, action="send", text="!")


@pytest.mark.django_db
def test_a_reply_begun_here_belongs_to_this_process(team, alice):
    start = services.begin_reply(
        conversation_id=make_conversation(team, alice).pk, user=alice, action="send", text="Hi"
    )
    assert Message.objects.get(pk=start.assistant_id).owner == liveness.PROCESS_ID


@pytest.mark.django_db
def test_a_beat_is_one_update_once_the_row_exists(django_assert_num_queries):
    liveness.beat(process_id=HERE)
    with django_assert_num_queries(1):
        liveness.beat(process_id=HERE)
    assert ServingProcess.objects.get(pk=HERE).beat_at > timezone.now() - timedelta(seconds=5)


@pytest.mark.django_db(transaction=True)
async def test_the_sweep_tells_every_tab_on_the_conversation(conversation, alice, alice_cookie):
    orphan = await database_sync_to_async(_reply)(conversation, alice, owner=DEAD)
    tab, connected = await open_socket(conversation, alice_cookie)
    assert connected
    await tab.receive_from(timeout=TIMEOUT)  # idle controls

    ended = await startup.ReplySweeper(get_channel_layer()).tick()

    assert ended == [(conversation.pk, orphan.pk)]
    frame = await tab.receive_from(timeout=TIMEOUT)
    assert f'id="message-{orphan.pk}"' in frame
    assert 'data-message-status="interrupted"' in frame
    assert "Half a reply" in frame
    await tab.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_after_a_database_outage_others_are_swept_only_once_all_could_beat(
    monkeypatch, team, alice
):
    orphan = await database_sync_to_async(
        lambda: _reply(make_conversation(team, alice), alice, owner=DEAD)
    )()
    sweeper = startup.ReplySweeper()
    beat = liveness.beat
    calls = {"n": 0}

    def flaky_beat(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            from django.db import OperationalError

            raise OperationalError("the database is away")
        beat(**kwargs)

    monkeypatch.setattr(liveness, "beat", flaky_beat)
    clock = {"now": 1000.0}
    monkeypatch.setattr(startup.time, "monotonic", lambda: clock["now"])

    assert await sweeper.tick() == []  # the beat failed: no sweep
    clock["now"] += liveness.BEAT_SECONDS
    assert await sweeper.tick() == []  # others may not have beaten again yet
    assert await database_sync_to_async(_status)(orphan) == Message.Status.STREAMING
    clock["now"] += liveness.STALE_SECONDS
    assert await sweeper.tick() == [(orphan.conversation_id, orphan.pk)]


@pytest.mark.django_db(transaction=True)
async def test_a_clean_stop_deletes_the_process_row(settings, monkeypatch):
    settings.REDIS_URL = "redis://scale-mode"  # only the flag is read
    monkeypatch.setattr(liveness, "BEAT_SECONDS", 0.01)
    task = asyncio.create_task(startup.sweep_orphaned_replies())
    pid = liveness.PROCESS_ID
    for _ in range(500):
        if await ServingProcess.objects.filter(pk=pid).aexists():
            break
        await asyncio.sleep(0.01)
    assert await ServingProcess.objects.filter(pk=pid).aexists()

    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert not await ServingProcess.objects.filter(pk=pid).aexists()
