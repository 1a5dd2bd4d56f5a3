"""Chat replies pay for what they delivered: reserved in begin_reply, charged in the
transaction that ends them (complete, stopped, cut off or failed), refunded only when they
delivered nothing. Driven through the websocket, as a member uses it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from channels.db import database_sync_to_async

from gateway.errors import GatewayError
from gateway.types import ChatEnd
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    is_final,
    receive_until,
    send_action,
)
from tests.usage.ledger import assert_ledger_balances
from usage.models import TeamMonth, UsageRecord
from usage.services import estimate_tokens

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _records():
    return list(UsageRecord.objects.order_by("pk"))


@database_sync_to_async
def _team_counter(team):
    row = TeamMonth.objects.get(team=team)
    return row.spent, row.reserved


balances = database_sync_to_async(assert_ledger_balances)


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
    await balances(team)


async def test_a_reply_without_usage_is_charged_an_estimate(alice_socket, fake_stream, price):
    fake_stream(["abcd" * 10], end=ChatEnd("stop", None))

    await _reply(alice_socket)

    [record] = await _records()
    assert record.status == UsageRecord.Status.SETTLED and record.estimated
    assert record.completion_tokens == 10


async def test_a_stopped_reply_is_charged_for_the_text_it_delivered(
    alice_socket, fake_stream, price, team
):
    fake_stream(["Partial ", "answer", " never sent"], gate_at=2)

    await send_action(alice_socket, "send", text="Go")
    frames = await receive_until(alice_socket, lambda f: "answer" in f)
    message_id = assistant_id_in(frames)
    assert (await _records())[0].status == UsageRecord.Status.RESERVED
    await send_action(alice_socket, "stop")
    await receive_until(alice_socket, is_final(message_id))

    [record] = await _records()
    assert record.status == UsageRecord.Status.SETTLED and record.estimated
    assert record.completion_tokens == estimate_tokens("Partial answer") > 0
    assert record.cost > 0
    assert await _team_counter(team) == (record.cost, 0)
    await balances(team)


@pytest.mark.parametrize(
    ("end", "error"),
    [(None, GatewayError("boom", status=500)), (ChatEnd(None, None), None)],
    ids=["failed", "cut-off"],
)
async def test_a_failed_or_cut_off_reply_is_charged_for_what_it_delivered(
    alice_socket, fake_stream, price, team, end, error
):
    fake_stream(["Half ", "an answer"], end=end, error=error)

    await _reply(alice_socket)

    [record] = await _records()
    assert record.status == UsageRecord.Status.SETTLED and record.estimated
    assert record.completion_tokens == estimate_tokens("Half an answer")
    assert record.cost > 0
    assert await _team_counter(team) == (record.cost, 0)
    await balances(team)


async def test_a_reply_that_failed_before_delivering_anything_is_refunded(
    alice_socket, fake_stream, price, team
):
    fake_stream([], error=GatewayError("boom", status=500))

    await _reply(alice_socket)

    [record] = await _records()
    assert record.status == UsageRecord.Status.REFUNDED and record.cost == 0
    assert await _team_counter(team) == (0, 0)
    await balances(team)
