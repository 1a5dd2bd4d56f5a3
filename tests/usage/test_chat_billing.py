"""Chat replies are charged through chat.billing: reserved in begin_reply, settled in
finish_reply, refunded when they fail, are stopped, or are swept as interrupted."""

from __future__ import annotations

from decimal import Decimal

import pytest
from channels.db import database_sync_to_async

from chat import services as chat_services
from chat.billing import BudgetRefused
from chat.models import Message
from gateway.errors import GatewayError
from gateway.types import ChatEnd
from tests.factories import make_message
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    is_final,
    receive_until,
    send_action,
)
from usage.models import TeamMonth, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _records():
    return list(UsageRecord.objects.order_by("pk"))


@database_sync_to_async
def _team_counter(team):
    row = TeamMonth.objects.get(team=team)
    return row.spent, row.reserved


async def _reply(socket, text="Go") -> int:
    await send_action(socket, "send", text=text)
    first = await socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    await receive_until(socket, is_final(message_id))
    return message_id


async def test_a_budget_of_zero_refuses_before_the_gateway_is_called(
    alice_socket, fake_stream, set_budget, conversation
):
    stream = fake_stream(["never"])
    await database_sync_to_async(set_budget)(limit="0")

    await send_action(alice_socket, "send", text="Hello")
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert "budget" in frame
    assert stream.calls == []
    assert await _records() == []
    assert not await database_sync_to_async(conversation.messages.exists)()


async def test_a_complete_reply_is_settled_with_the_reported_usage(
    alice_socket, fake_stream, price, team
):
    fake_stream(["Hello", " there"])  # FakeStream reports 11 prompt and 2 completion tokens

    message_id = await _reply(alice_socket)

    [record] = await _records()
    assert record.message_id == message_id and record.conversation_id is not None
    assert record.status == UsageRecord.Status.SETTLED and not record.estimated
    assert (record.prompt_tokens, record.completion_tokens) == (11, 2)
    assert record.cost == Decimal("0.015")  # 11 * 1/1K + 2 * 2/1K
    assert await _team_counter(team) == (Decimal("0.015"), 0)


async def test_a_reply_without_usage_is_charged_an_estimate(alice_socket, fake_stream, price):
    fake_stream(["abcd" * 10], end=ChatEnd("stop", None))

    await _reply(alice_socket)

    [record] = await _records()
    assert record.status == UsageRecord.Status.SETTLED and record.estimated
    assert record.completion_tokens == 10


@pytest.mark.parametrize(
    ("end", "error"), [(None, GatewayError("boom", status=500)), (ChatEnd(None, None), None)]
)
async def test_a_failed_or_cut_off_reply_is_refunded(
    alice_socket, fake_stream, price, team, end, error
):
    fake_stream(["Half"], end=end, error=error)

    await _reply(alice_socket)

    [record] = await _records()
    assert record.status == UsageRecord.Status.REFUNDED and record.cost == 0
    assert await _team_counter(team) == (0, 0)


async def test_a_stopped_reply_is_refunded(alice_socket, fake_stream, price, team):
    fake_stream(["Partial ", "answer", " never sent"], gate_at=2)

    await send_action(alice_socket, "send", text="Go")
    frames = await receive_until(alice_socket, lambda f: "answer" in f)
    message_id = assistant_id_in(frames)
    assert (await _records())[0].status == UsageRecord.Status.RESERVED
    await send_action(alice_socket, "stop")
    await receive_until(alice_socket, is_final(message_id))

    [record] = await _records()
    assert record.status == UsageRecord.Status.REFUNDED
    assert await _team_counter(team) == (0, 0)


def _reserved_reply(conversation, alice):
    start = chat_services.begin_reply(
        conversation_id=conversation.pk, user=alice, action="send", text="Hi"
    )
    return start.assistant


@pytest.mark.usefixtures("price")
def test_the_sweep_refunds_interrupted_replies(conversation, alice, team):
    reply = _reserved_reply(conversation, alice)
    assert TeamMonth.objects.get(team=team).reserved > 0

    assert chat_services.interrupt_orphaned_replies() == 1

    record = UsageRecord.objects.get(message=reply)
    assert record.status == UsageRecord.Status.REFUNDED
    assert TeamMonth.objects.get(team=team).reserved == 0


@pytest.mark.usefixtures("price")
def test_fail_reply_refunds(conversation, alice, team):
    reply = _reserved_reply(conversation, alice)

    chat_services.fail_reply(message_id=reply.pk, error="could not save")

    assert UsageRecord.objects.get(message=reply).status == UsageRecord.Status.REFUNDED
    assert TeamMonth.objects.get(team=team).reserved == 0


def test_a_model_the_role_may_not_use_is_refused_with_nothing_saved(
    conversation, alice, set_budget
):
    set_budget(allowed={"owner": ["demo-fast"]})
    question = make_message(conversation, content="Hi", author=alice)

    with pytest.raises(BudgetRefused) as refused:
        chat_services.begin_reply(
            conversation_id=conversation.pk, user=alice, action="send", text="Again"
        )

    assert "not allowed" in refused.value.messages[0]
    assert list(Message.objects.filter(conversation=conversation)) == [question]
    assert not UsageRecord.objects.exists()
