"""Usage numbers from the gateway are hostile input: absurd counts (1e30, negative, NaN,
strings) are clamped or dropped before anything is stored or priced, and the reply keeps its
text whatever its charge does. Run on SQLite and, with DATABASE_URL, on PostgreSQL (whose
numeric columns refuse what SQLite would store)."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from django.db import DataError

from chat.models import Message
from gateway.chat import MAX_TOKEN_COUNT, _usage
from gateway.client import use_transport
from gateway.types import Usage
from tests.gateway.fakes import respond
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    get_message,
    is_final,
    receive_until,
    send_action,
)
from usage import services
from usage.models import Price, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

ABSURD = [1e30, -5, float("nan"), float("inf"), "12", "lots", [3], {"n": 1}, True, 2**70]


@pytest.mark.parametrize("value", ABSURD)
def test_the_gateway_layer_clamps_or_drops_absurd_counts(value):
    usage = _usage({"prompt_tokens": value, "completion_tokens": value, "total_tokens": value})
    for count in (usage.prompt_tokens, usage.completion_tokens) if usage else ():
        assert count is None or 0 <= count <= MAX_TOKEN_COUNT
    assert MAX_TOKEN_COUNT == 10_000_000


def test_charging_clamps_counts_whoever_passes_them(team, bob, price):
    record = services.reserve_chat(team=team, user=bob, role="member", model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    services.charge_reply(
        record, complete=True, delivered="x", prompt_tokens=10**30, completion_tokens=-3
    )
    record.refresh_from_db()
    assert record.status == UsageRecord.Status.SETTLED
    assert (record.prompt_tokens, record.completion_tokens) == (services.MAX_TOKENS, 0)
    assert record.cost == services.quote("gpt-4o-mini", prompt_tokens=services.MAX_TOKENS).amount


def test_one_charge_never_exceeds_what_a_column_holds(team, bob):
    Price.objects.create(model="gpt-4o-mini", prompt_per_1k=Decimal("99999999"))
    record = services.reserve_chat(team=team, user=bob, role="member", model="gpt-4o-mini",
                                   messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    services.settle_chat(record, usage=Usage(10**6, 0, 10**6), content="x")
    record.refresh_from_db()
    assert record.status == UsageRecord.Status.SETTLED
    assert record.cost == services.MAX_CHARGE


def _sse(*events: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + (
        b"data: [DONE]\n\n"
    )


def _chunk(content: str = "", finish: str | None = None, usage: dict | None = None) -> dict:
    choices = [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]
    return {"choices": [] if usage else choices, **({"usage": usage} if usage else {})}


@pytest.fixture
def absurd_gateway(settings):
    """A gateway that writes a short reply and reports 1e30 tokens each way."""
    settings.GATEWAY_BASE_URL = "https://gw.example"
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path != "/v1/chat/completions":
            return httpx.Response(404, json={"error": {"message": "no"}})
        body = _sse(
            _chunk("Kept "),
            _chunk("text.", "stop"),
            _chunk(usage={"prompt_tokens": 1e30, "completion_tokens": 1e30, "total_tokens": 2e30}),
        )
        return respond(200, [body])

    with use_transport(httpx.MockTransport(handler)):
        yield requests


async def _reply(socket) -> Message:
    await send_action(socket, "send", text="Hello")
    first = await socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    await receive_until(socket, is_final(message_id))
    return await get_message(message_id)


@pytest.fixture
def dear_price(db):
    # At these amounts 2**31 tokens each way (what the old clamp let through) cost more than
    # a numeric(14, 6) column holds; the clamped counts cost 900,000.
    return Price.objects.create(
        model="gpt-4o-mini", prompt_per_1k=Decimal(30), completion_per_1k=Decimal(60)
    )


async def test_a_reply_reported_at_1e30_tokens_finishes_with_its_text(
    alice_socket, absurd_gateway, dear_price
):
    message = await _reply(alice_socket)

    assert message.status == Message.Status.COMPLETE
    assert message.content == "Kept text."
    assert message.prompt_tokens == message.completion_tokens == MAX_TOKEN_COUNT
    record = await UsageRecord.objects.aget(message_id=message.pk)
    assert record.status == UsageRecord.Status.SETTLED
    assert record.cost == Decimal(900_000)


async def test_a_charge_that_cannot_be_stored_leaves_the_text_stored(
    alice_socket, absurd_gateway, dear_price, monkeypatch
):
    def refuse(*args, **kwargs):
        raise DataError("numeric field overflow")

    monkeypatch.setattr(services.ReplyCharges, "charge", refuse)

    message = await _reply(alice_socket)

    assert message.status == Message.Status.COMPLETE
    assert message.content == "Kept text."
    # Left reserved: the sweep charges it later from what the reply delivered.
    record = await UsageRecord.objects.aget(message_id=message.pk)
    assert record.status == UsageRecord.Status.RESERVED
