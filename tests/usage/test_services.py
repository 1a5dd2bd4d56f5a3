"""usage.services: reserve, settle and refund arithmetic, limits, months, roles, prices."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from gateway.types import Usage
from usage import services
from usage.models import MemberMonth, Price, TeamMonth, UsageRecord
from usage.services import BudgetRefused

pytestmark = pytest.mark.django_db


def _reserve(team, user, amount, *, role="member", model="gpt-4o-mini"):
    return services.reserve(
        team=team, user=user, role=role, kind="chat", model=model, amount=Decimal(amount)
    )


def _counters(team, user):
    month = services.current_month()
    t = TeamMonth.objects.get(team=team, month=month)
    m = MemberMonth.objects.get(team=team, user=user, month=month)
    return (t.spent, t.reserved), (m.spent, m.reserved)


def test_reserve_then_settle_moves_the_reservation_to_spent(team, bob, set_budget):
    set_budget(limit="10")
    record = _reserve(team, bob, "1.5")
    assert _counters(team, bob) == ((0, Decimal("1.5")), (0, Decimal("1.5")))

    assert services.settle(record, cost=Decimal("0.4"), estimated=False)

    assert _counters(team, bob) == ((Decimal("0.4"), 0), (Decimal("0.4"), 0))
    record.refresh_from_db()
    assert record.status == UsageRecord.Status.SETTLED and record.cost == Decimal("0.4")
    assert not services.settle(record, cost=Decimal(9))  # once only
    assert not services.refund(record)
    assert _counters(team, bob) == ((Decimal("0.4"), 0), (Decimal("0.4"), 0))


def test_refund_gives_the_reservation_back(team, bob, set_budget):
    set_budget(limit="10")
    record = _reserve(team, bob, "2")

    assert services.refund(record)

    assert _counters(team, bob) == ((0, 0), (0, 0))
    record.refresh_from_db()
    assert record.status == UsageRecord.Status.REFUNDED and record.cost == 0


def test_a_budget_of_zero_refuses_even_a_free_call(team, bob, set_budget):
    set_budget(limit="0")
    with pytest.raises(BudgetRefused) as refused:
        _reserve(team, bob, "0")
    assert refused.value.code == "budget"
    assert "budget" in refused.value.messages[0]
    assert not UsageRecord.objects.exists()


def test_no_budget_means_no_limit(team, bob):
    for _ in range(3):
        _reserve(team, bob, "1000")
    assert _counters(team, bob)[0] == (0, Decimal(3000))


def test_a_budget_that_allows_ten_calls_allows_exactly_ten(team, bob, set_budget):
    set_budget(limit="1.0")  # ten calls of 0.1: the sum is not exact in floating point
    taken = 0
    for _ in range(50):
        try:
            _reserve(team, bob, "0.1")
            taken += 1
        except BudgetRefused:
            pass
    assert taken == 10
    (spent, reserved), _member = _counters(team, bob)
    assert spent + reserved == Decimal("1.0")


def test_the_member_cap_refuses_one_member_and_not_the_others(team, alice, bob, set_budget):
    set_budget(limit="10", cap="1")
    _reserve(team, bob, "1")
    with pytest.raises(BudgetRefused) as refused:
        _reserve(team, bob, "0.5")
    assert "budget" in refused.value.messages[0]
    _reserve(team, alice, "1", role="owner")
    # The refused call left the team's counter as it was.
    assert TeamMonth.objects.get(team=team).reserved == Decimal(2)


def test_changing_the_budget_changes_this_months_limit(team, bob, set_budget):
    set_budget(limit="1")
    _reserve(team, bob, "1")
    with pytest.raises(BudgetRefused):
        _reserve(team, bob, "1")

    set_budget(limit="5", cap="3")

    _reserve(team, bob, "1")
    assert TeamMonth.objects.get(team=team).limit == Decimal(5)
    assert MemberMonth.objects.get(team=team, user=bob).limit == Decimal(3)


def test_budget_state_warns_at_80_percent_and_is_over_at_the_limit(team, bob, set_budget):
    set_budget(limit="10")
    assert services.budget_state(team, bob).level == "none"
    _reserve(team, bob, "7.9")
    assert services.budget_state(team, bob).level == "none"
    _reserve(team, bob, "0.1")
    state = services.budget_state(team, bob)
    assert (state.level, state.percent, state.team_used) == ("warn", 80, Decimal(8))
    _reserve(team, bob, "2")
    assert services.budget_state(team, bob).level == "over"


def test_budget_state_follows_the_member_cap(team, alice, bob, set_budget):
    set_budget(limit="100", cap="1")
    _reserve(team, bob, "0.9")
    assert services.budget_state(team, bob).level == "warn"
    assert services.budget_state(team, alice).level == "none"


def _at(monkeypatch, moment: datetime.datetime) -> None:
    monkeypatch.setattr(timezone, "now", lambda: moment)


def test_a_new_month_starts_at_zero_and_the_old_one_keeps_its_spend(
    team, bob, set_budget, monkeypatch, settings
):
    settings.TIME_ZONE = "UTC"
    set_budget(limit="1")
    _at(monkeypatch, datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=datetime.UTC))
    services.settle(_reserve(team, bob, "1"), cost=Decimal(1))
    with pytest.raises(BudgetRefused):
        _reserve(team, bob, "0.1")
    assert services.budget_state(team, bob).level == "over"

    _at(monkeypatch, datetime.datetime(2026, 12, 1, 0, 0, 0, tzinfo=datetime.UTC))
    assert services.budget_state(team, bob).level == "none"
    record = _reserve(team, bob, "0.5")

    assert record.month == datetime.date(2026, 12, 1)
    november = TeamMonth.objects.get(team=team, month=datetime.date(2026, 11, 1))
    december = TeamMonth.objects.get(team=team, month=datetime.date(2026, 12, 1))
    assert (november.spent, november.reserved) == (Decimal(1), 0)
    assert (december.spent, december.reserved, december.limit) == (0, Decimal("0.5"), 1)


def test_settling_after_the_month_ended_charges_the_month_it_was_reserved_in(
    team, bob, monkeypatch, settings
):
    settings.TIME_ZONE = "UTC"
    _at(monkeypatch, datetime.datetime(2026, 11, 30, 23, 59, 59, tzinfo=datetime.UTC))
    record = _reserve(team, bob, "1")
    _at(monkeypatch, datetime.datetime(2026, 12, 1, 0, 0, 1, tzinfo=datetime.UTC))
    services.settle(record, cost=Decimal("0.25"))
    november = TeamMonth.objects.get(team=team, month=datetime.date(2026, 11, 1))
    assert (november.spent, november.reserved) == (Decimal("0.25"), 0)
    assert not TeamMonth.objects.filter(month=datetime.date(2026, 12, 1)).exists()


def test_a_model_outside_the_roles_allow_list_is_refused(team, alice, bob, set_budget):
    set_budget(allowed={"member": ["gpt-4o-mini"]})
    _reserve(team, bob, "0", model="gpt-4o-mini")
    with pytest.raises(BudgetRefused) as refused:
        _reserve(team, bob, "0", model="gpt-4o")
    assert refused.value.code == "model_not_allowed"
    assert "not allowed" in refused.value.messages[0]
    _reserve(team, alice, "0", role="owner", model="gpt-4o")  # no list for owners
    assert UsageRecord.objects.filter(model="gpt-4o").count() == 1


def test_chat_is_reserved_from_the_prompt_and_an_assumed_completion(team, bob, price):
    messages = [{"role": "user", "content": "x" * 400}]  # 100 tokens by the 4-chars rule
    record = services.reserve_chat(team=team, user=bob, role="member", model="gpt-4o-mini",
                                   messages=messages)  # fmt: skip
    # 100 prompt tokens at 1/1K, 1000 assumed completion tokens at 2/1K.
    assert record.reserved == Decimal("2.1")
    assert record.prompt_tokens == 100 and not record.default_price


def test_reported_usage_settles_unestimated(team, bob, price):
    record = services.reserve_chat(
        team=team, user=bob, role="member", model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
    )  # fmt: skip
    services.settle_chat(record, usage=Usage(1000, 500, 1500), content="whatever")
    record.refresh_from_db()
    assert (record.prompt_tokens, record.completion_tokens) == (1000, 500)
    assert record.cost == Decimal(2) and not record.estimated


def test_without_reported_usage_the_completion_is_estimated_from_the_text(team, bob, price):
    record = services.reserve_chat(
        team=team, user=bob, role="member", model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x" * 4000}],
    )  # fmt: skip
    services.settle_chat(record, usage=None, content="y" * 2000)
    record.refresh_from_db()
    assert (record.prompt_tokens, record.completion_tokens) == (1000, 500)
    assert record.cost == Decimal(2) and record.estimated


def test_a_model_without_a_price_is_charged_the_default_and_flagged(team, bob, price):
    Price.objects.update_or_create(
        model="*", defaults={"prompt_per_1k": Decimal(10), "completion_per_1k": Decimal(10)}
    )
    record = services.reserve_chat(
        team=team, user=bob, role="member", model="mystery-model",
        messages=[{"role": "user", "content": "x" * 400}],
    )  # fmt: skip
    assert record.default_price
    assert record.reserved == Decimal(11)  # 1100 tokens at 10/1K


def test_money_is_decimal_quantized_to_six_places(price):
    cost = services.token_cost(price, 1, 1)
    assert isinstance(cost, Decimal) and cost == Decimal("0.003")
    assert cost.as_tuple().exponent == -6


def test_reported_token_counts_are_clamped_to_the_columns_range(team, bob, price):
    record = services.reserve_chat(
        team=team, user=bob, role="member", model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
    )  # fmt: skip
    services.settle(record, cost=Decimal(1), prompt_tokens=10**12, completion_tokens=-5)
    record.refresh_from_db()
    assert (record.prompt_tokens, record.completion_tokens) == (services.MAX_TOKENS, 0)


# The budget rule at its edges, on a counter that exists and on the month's first call (which
# decides in Python whether a new counter would have room, then makes it with the amount).


EDGES = [  # (used before, amount, taken)
    ("0.999999", "0.000001", True),  # exactly to the limit
    ("0.999999", "0.000002", False),  # one millionth over
    ("0", "1", True),
    ("0", "1.000001", False),
    ("0.999999", "0", True),  # a free call below the limit
    ("1", "0", False),  # ... and at it
]
FIRST_CALL_EDGES = [("0", "1", True), ("0", "1.000001", False), ("0", "0", True)]


@pytest.mark.parametrize(
    ("first_call", "used", "amount", "taken"),
    [(False, *edge) for edge in EDGES] + [(True, *edge) for edge in FIRST_CALL_EDGES],
)
def test_the_member_cap_is_reached_exactly(team, bob, set_budget, first_call, used, amount, taken):
    set_budget(cap="1")
    if not first_call:
        MemberMonth.objects.create(team=team, user=bob, month=services.current_month(),
                                   limit=Decimal(1), reserved=Decimal(used))  # fmt: skip
    if taken:
        _reserve(team, bob, amount)
    else:
        with pytest.raises(BudgetRefused):
            _reserve(team, bob, amount)
    member = MemberMonth.objects.filter(team=team, user=bob).first()
    expected = Decimal(used) + Decimal(amount) if taken else Decimal(used)
    assert (member.reserved if member else Decimal(0)) == expected
    assert UsageRecord.objects.count() == (1 if taken else 0)
    if not taken:  # the refusal rolled back the team's counter made for it too
        assert not TeamMonth.objects.filter(reserved__gt=0).exists()


def test_a_first_call_that_finds_the_counter_full_is_refused(team, bob, set_budget):
    """The first UPDATE misses a full counter, the new counter would have room, the INSERT
    conflicts with the full one: the take is tried again and refused."""
    set_budget(cap="1")
    month = services.current_month()
    MemberMonth.objects.create(team=team, user=bob, month=month, limit=Decimal("0.5"),
                               reserved=Decimal("0.5"))  # fmt: skip
    with pytest.raises(BudgetRefused):
        _reserve(team, bob, "0.1")
    assert MemberMonth.objects.get(team=team, user=bob).reserved == Decimal("0.5")


def test_a_first_call_made_elsewhere_takes_from_that_counter(team, bob, set_budget):
    """No budget here, but a counter made with a limit (as another process may have): the
    conflict leads to the take, which obeys that counter's limit."""
    month = services.current_month()
    MemberMonth.objects.create(team=team, user=bob, month=month, limit=Decimal(1))
    _reserve(team, bob, "0.6")
    with pytest.raises(BudgetRefused):
        _reserve(team, bob, "0.6")
    assert MemberMonth.objects.get(team=team, user=bob).reserved == Decimal("0.6")


# Queries: reserve_chat runs inside begin_reply's transaction on the one database thread, so
# every query counts in a burst (benchmarks/reserve_cost.py measures their CPU).


def test_reserve_chat_in_steady_state_is_four_statements(team, bob, price, set_budget,
                                                         django_assert_num_queries):  # fmt: skip
    set_budget(limit="100", cap="10")
    chat = {"team": team, "user": bob, "role": "member", "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    services.reserve_chat(**chat)
    # The price, the budget, the savepoint, two counters' UPDATEs, the record, the release.
    with django_assert_num_queries(7):
        services.reserve_chat(**chat)


def test_a_members_first_reply_of_the_month_makes_its_counter_in_one_insert(
    team, alice, bob, price, set_budget, django_assert_num_queries
):
    set_budget(limit="100", cap="10")
    chat = {"team": team, "role": "member", "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
    services.reserve_chat(user=alice, **chat)  # the team's counter exists
    # As steady state, plus the member's INSERT after the UPDATE that found no counter.
    with django_assert_num_queries(8):
        record = services.reserve_chat(user=bob, **chat)
    assert MemberMonth.objects.get(team=team, user=bob).reserved == record.reserved > 0


def _reply_reserved(conversation, user):
    from chat.models import Message

    message = Message.objects.create(conversation=conversation, role="assistant",
                                     status="streaming", model="gpt-4o-mini")  # fmt: skip
    record = services.reserve_chat(team=conversation.team, user=user, role="member",
                                   model="gpt-4o-mini", message=message,
                                   messages=[{"role": "user", "content": "hi"}])  # fmt: skip
    return message, record


def test_settling_a_reply_is_six_statements_and_charges_once(
    conversation, bob, price, set_budget, django_assert_num_queries
):
    set_budget(limit="100", cap="10")
    message, _record = _reply_reserved(conversation, bob)
    charge = {"complete": True, "delivered": "", "prompt_tokens": 1000, "completion_tokens": 500}
    # The pending record, the price, the savepoint, the record's UPDATE, two counters'
    # UPDATEs, the release.
    with django_assert_num_queries(7):
        assert services.charge_reply_of(message.pk, **charge)
    with django_assert_num_queries(1):  # settled: found no more, nothing charged again
        assert not services.charge_reply_of(message.pk, **charge)
    assert _counters(conversation.team, bob) == ((Decimal(2), 0), (Decimal(2), 0))


def test_refunding_a_reply_is_five_statements_and_refunds_once(
    conversation, bob, price, set_budget, django_assert_num_queries
):
    set_budget(limit="100", cap="10")
    message, record = _reply_reserved(conversation, bob)
    with django_assert_num_queries(6):  # as settling, without the price
        assert services.charge_reply_of(message.pk, complete=False, delivered="")
    assert not services.charge_reply_of(message.pk, complete=False, delivered="")
    assert _counters(conversation.team, bob) == ((0, 0), (0, 0))
    record.refresh_from_db()
    assert record.status == UsageRecord.Status.REFUNDED
