"""The ledger's invariant, for any test that charges: each month counter holds exactly what
its records say, `spent + reserved` = the sum over the records of (cost if settled, the
reservation if still reserved; nothing if refunded)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from usage.models import MemberMonth, TeamMonth, UsageRecord


def _owed(record: UsageRecord) -> Decimal:
    if record.status == UsageRecord.Status.SETTLED:
        return record.cost
    if record.status == UsageRecord.Status.RESERVED:
        return record.reserved
    return Decimal(0)


def assert_ledger_balances(team) -> None:
    """Team and member counters of every month of `team` match its records, to the cent's
    ten-thousandth (SQLite sums decimals in floating point)."""
    by_team: dict = defaultdict(Decimal)
    by_member: dict = defaultdict(Decimal)
    for record in UsageRecord.objects.filter(team=team):
        by_team[record.month] += _owed(record)
        by_member[record.month, record.user_id] += _owed(record)
    counters_team = {
        row.month: row.spent + row.reserved for row in TeamMonth.objects.filter(team=team)
    }
    counters_member = {
        (row.month, row.user_id): row.spent + row.reserved
        for row in MemberMonth.objects.filter(team=team)
    }
    _assert_equal(counters_team, by_team, "team month")
    _assert_equal(counters_member, by_member, "member month")


def _assert_equal(counters: dict, records: dict, what: str) -> None:
    places = Decimal("0.000001")
    keys = set(counters) | set(records)
    wrong = {
        key: (counters.get(key, Decimal(0)), records.get(key, Decimal(0)))
        for key in keys
        if abs(counters.get(key, Decimal(0)) - records.get(key, Decimal(0))) >= places
    }
    assert wrong == {}, f"{what} counters (counter, records) disagree: {wrong}"
