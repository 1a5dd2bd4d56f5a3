"""Reservations under concurrency: 50 parallel calls against a budget that allows exactly 10.
Each thread has its own database connection; only the conditional UPDATE keeps the budget."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections

from tests.factories import make_conversation
from usage import services
from usage.models import MemberMonth, TeamMonth, UsageRecord
from usage.services import BudgetRefused

CALLS, ALLOWED, AMOUNT = 50, 10, Decimal("0.1")


def _parallel_reservations(team, users) -> list[bool]:
    barrier = threading.Barrier(CALLS)

    def call(i: int) -> bool:
        try:
            barrier.wait(timeout=30)
            services.reserve(
                team=team, user=users[i % len(users)], role="member", kind="chat",
                model="gpt-4o-mini", amount=AMOUNT,
            )  # fmt: skip
            return True
        except BudgetRefused:
            return False
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=CALLS) as pool:
        return list(pool.map(call, range(CALLS)))


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_calls_against_a_budget_of_ten_reserve_exactly_ten(
    team, alice, bob, victor, set_budget
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (SQLite serialises writers: see the sequential test)")
    set_budget(limit=str(ALLOWED * AMOUNT))
    users = [alice, bob, victor]
    month = services.current_month()
    # The rows exist: every call races on the same UPDATE.
    TeamMonth.objects.create(team=team, month=month, limit=team.budget.monthly_limit)
    for user in users:
        MemberMonth.objects.create(
            team=team, user=user, month=month, limit=team.budget.member_monthly_cap
        )

    results = _parallel_reservations(team, users)

    assert results.count(True) == ALLOWED
    row = TeamMonth.objects.get(team=team)
    assert row.spent + row.reserved == ALLOWED * AMOUNT <= row.limit
    assert UsageRecord.objects.count() == ALLOWED
    assert sum(m.reserved for m in MemberMonth.objects.filter(team=team)) == ALLOWED * AMOUNT


@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_first_calls_of_a_month_make_one_counter(team, alice, bob, set_budget):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    set_budget(limit=str(ALLOWED * AMOUNT))

    results = _parallel_reservations(team, [alice, bob])

    assert results.count(True) == ALLOWED
    assert TeamMonth.objects.filter(team=team).count() == 1
    # At most one row per member (a member all of whose calls were refused has none: a
    # refusal rolls back the row made for it too), together holding what was reserved.
    members = MemberMonth.objects.filter(team=team)
    assert members.values("user").distinct().count() == members.count() <= 2
    assert sum(m.reserved for m in members) == ALLOWED * AMOUNT


@pytest.mark.django_db(transaction=True)
def test_batches_of_reply_reservations_in_parallel_never_pass_the_budget(
    team, alice, bob, set_budget
):
    """Reply starts taken together (usage.services.ReplyPlanner/record_replies) in eight
    parallel transactions, first calls of the month included: the locked counters keep the
    team's limit, as the conditional UPDATE does for single reservations."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    from usage.models import Price

    Price.objects.create(model="m", prompt_per_1k=Decimal(0), completion_per_1k=Decimal("0.1"))
    set_budget(limit="1")  # each reply reserves 0.1 (1,000 assumed completion tokens)
    conversation = make_conversation(team, alice)
    replies = [conversation.messages.create(role="assistant") for _ in range(24)]
    barrier = threading.Barrier(8)

    def batch(i: int) -> int:
        from django.db import transaction

        try:
            barrier.wait(timeout=30)
            charges = [
                services.ReplyCharge(team=team, user=(alice, bob)[(i + j) % 2], role="member",
                                     model="m", prompt_tokens=0)
                for j in range(3)
            ]  # fmt: skip
            with transaction.atomic():
                planner = services.ReplyPlanner(charges)
                planned = []
                for charge in charges:
                    with contextlib.suppress(services.BudgetRefused):
                        planned.append(planner.plan(charge))
                mine = replies[3 * i : 3 * i + len(planned)]
                records = services.record_replies(planned, mine)
            return len(records)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = sum(pool.map(batch, range(8)))

    row = TeamMonth.objects.get(team=team)
    assert taken == UsageRecord.objects.count()
    assert row.reserved == sum(r.reserved for r in UsageRecord.objects.all()) <= row.limit
    # 24 asked: six of 0.1, then one bounded to what is left (below BOUND_BELOW_TOKENS' worth
    # a reply writes only what the money left pays for) takes the last 0.4.
    assert row.reserved == row.limit
    assert taken == 7
