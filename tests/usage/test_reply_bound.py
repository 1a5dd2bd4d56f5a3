"""A reply cannot run far past the budget left: its max_tokens is what the smaller of the
team's and the member's money left pays for at the model's price (usage.services.
reserve_reply), sent upstream, and what it reserves."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from chat.models import Message
from gateway.client import use_transport
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
from usage.models import MemberMonth, TeamMonth, UsageRecord

HI = [{"role": "user", "content": "hi"}]  # 1 prompt token by the 4-characters rule


def _reserve(team, user, *, max_tokens=None, model="gpt-4o-mini", role="member"):
    return services.reserve_reply(team=team, user=user, role=role, model=model,
                                  prompt_tokens=services.estimate_prompt_tokens(HI),
                                  max_tokens=max_tokens)  # fmt: skip


def _spend(team, amount: str, user=None) -> None:
    """This month's counter of the team (or of `user` in it) with `amount` spent already."""
    month, budget, spent = services.current_month(), services.team_budget(team), Decimal(amount)
    if user is None:
        TeamMonth.objects.create(team=team, month=month, limit=budget.monthly_limit, spent=spent)
    else:
        cap = budget.member_monthly_cap
        MemberMonth.objects.create(team=team, user=user, month=month, limit=cap, spent=spent)


@pytest.mark.django_db
def test_with_1_2_left_a_reply_asks_for_what_1_2_pays_for(team, bob, price, set_budget):
    set_budget(limit="20")
    _spend(team, "18.8")

    reservation = _reserve(team, bob)

    # 1 prompt token at 1/1K (0.001) leaves 1.199: 599 completion tokens at 2/1K.
    assert reservation.max_tokens == 599
    assert services.quote("gpt-4o-mini", prompt_tokens=1, completion_tokens=599).amount <= Decimal(
        "1.2"
    )
    assert reservation.record.reserved == Decimal("1.199")


@pytest.mark.django_db
def test_the_member_cap_bounds_when_it_leaves_less(team, bob, price, set_budget):
    set_budget(limit="100", cap="1")
    _spend(team, "0.5", user=bob)

    assert _reserve(team, bob).max_tokens == 249  # (0.5 - 0.001) / 0.002


@pytest.mark.django_db
def test_a_requested_max_is_kept_when_the_budget_pays_for_it(team, bob, price, set_budget):
    set_budget(limit="1.2")

    assert _reserve(team, bob, max_tokens=256).max_tokens == 256
    assert _reserve(team, bob, max_tokens=4096).max_tokens < 4096


@pytest.mark.django_db
@pytest.mark.parametrize("limit", [None, "100"])
def test_without_a_binding_limit_nothing_is_bounded(team, bob, price, set_budget, limit):
    set_budget(limit=limit)

    reservation = _reserve(team, bob)

    assert reservation.max_tokens is None  # the model's own limit, as before
    assert reservation.record.reserved == Decimal("2.001")  # 1 + 1000 assumed tokens


@pytest.mark.django_db
def test_a_reply_nothing_is_left_for_is_refused(team, bob, price, set_budget):
    set_budget(limit="20")
    _spend(team, "19.9995")

    with pytest.raises(services.BudgetRefused):
        _reserve(team, bob)
    assert not UsageRecord.objects.exists()


@pytest.mark.django_db
def test_a_completion_is_bounded_too(team, bob, price, set_budget):
    from chat import completions

    set_budget(limit="0.1")
    options = completions.CompletionOptions("gpt-4o-mini", 4096, None, ())
    reservation = completions.reserve(team=team, user=bob, role="member", options=options,
                                      prompt="hi", conversation=None, message=None)  # fmt: skip

    assert reservation.max_tokens == 49  # (0.1 - 0.001) / 0.002
    assert reservation.record.reserved <= Decimal("0.1")


# End to end: what goes upstream, and what is settled when the gateway writes past it.

OVERRUN = 50  # tokens the gateway writes past max_tokens (it need not obey)


@pytest.fixture
def obeying_less_gateway(settings):
    settings.GATEWAY_BASE_URL = "https://gw.example"
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/v1/chat/completions":
            return httpx.Response(404, json={"error": {"message": "no"}})
        body = json.loads(request.content)
        bodies.append(body)
        written = (body.get("max_tokens") or 1000) + OVERRUN
        usage = {"prompt_tokens": 1, "completion_tokens": written, "total_tokens": written + 1}
        events = [
            {"choices": [{"index": 0, "delta": {"content": "word " * 20}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
            {"choices": [], "usage": usage},
        ]
        data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)
        return respond(200, [data + b"data: [DONE]\n\n"])

    with use_transport(httpx.MockTransport(handler)):
        yield bodies


@pytest.mark.django_db(transaction=True)
async def test_the_request_upstream_carries_the_bound_and_the_overrun_is_all_that_is_over(
    alice_socket, obeying_less_gateway, price, set_budget, team
):
    from asgiref.sync import sync_to_async

    await sync_to_async(set_budget)(limit="20")
    await sync_to_async(_spend)(team, "18.8")

    await send_action(alice_socket, "send", text="Hello")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    await receive_until(alice_socket, is_final(message_id))

    sent = obeying_less_gateway[0]["max_tokens"]
    prompt = services.estimate_prompt_tokens(obeying_less_gateway[0]["messages"])
    cost = await sync_to_async(services.quote)(
        "gpt-4o-mini", prompt_tokens=prompt, completion_tokens=sent
    )
    assert sent > 0 and cost.amount <= Decimal("1.2")
    message = await get_message(message_id)
    assert message.status == Message.Status.COMPLETE and message.content
    counter = await TeamMonth.objects.aget(team=team)
    overrun = await sync_to_async(services.quote)("gpt-4o-mini", completion_tokens=OVERRUN)
    assert counter.reserved == 0
    assert counter.spent <= Decimal(20) + overrun.amount
