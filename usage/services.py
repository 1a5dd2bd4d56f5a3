"""Stand-ins for U1's engine: only `budget_state` and `set_budget`, with the agreed signatures,
so the Team page, the banner and the usage page work before the merge. U1's module replaces
this one (reserve/settle/refund live there)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import Team, User
from usage.models import ZERO, MemberMonth, TeamBudget, TeamMonth, month_of

WARN_PERCENT = 80


@dataclass(frozen=True)
class BudgetState:
    level: str  # "none", "warn" or "over"
    spent: Decimal
    limit: Decimal | None
    member_spent: Decimal
    member_limit: Decimal | None
    percent: int


NO_BUDGET = BudgetState("none", ZERO, None, ZERO, None, 0)


def _percent(spent: Decimal, limit: Decimal | None) -> int:
    if limit is None:
        return 0
    if limit <= 0:
        return 100
    return int(spent * 100 / limit)


def budget_state(team: Team, user: User) -> BudgetState:
    """How much of this month's team budget (and the user's cap) is used: one query."""
    member = MemberMonth.objects.filter(team=team, user=user, month=OuterRef("month"))
    row = (
        TeamMonth.objects.filter(team=team, month=month_of(timezone.localdate()))
        .annotate(
            member_spent=Subquery(member.values("spent")[:1]),
            member_limit=Subquery(member.values("limit")[:1]),
        )
        .values("limit", "spent", "reserved", "member_spent", "member_limit")
        .first()
    )
    if row is None:
        return NO_BUDGET
    spent, member_spent = row["spent"] + row["reserved"], row["member_spent"] or ZERO
    percent = max(_percent(spent, row["limit"]), _percent(member_spent, row["member_limit"]))
    level = "over" if percent >= 100 else "warn" if percent >= WARN_PERCENT else "none"
    return BudgetState(level, spent, row["limit"], member_spent, row["member_limit"], percent)


def set_budget(
    team: Team,
    *,
    monthly_limit: Decimal | None,
    member_monthly_cap: Decimal | None,
    allowed_models: dict[str, Any],
) -> TeamBudget:
    """Save the team's limits and copy them into this month's counters."""
    budget, _created = TeamBudget.objects.update_or_create(
        team=team,
        defaults={
            "monthly_limit": monthly_limit,
            "member_monthly_cap": member_monthly_cap,
            "allowed_models": allowed_models,
        },
    )
    month = month_of(timezone.localdate())
    TeamMonth.objects.filter(team=team, month=month).update(limit=monthly_limit)
    MemberMonth.objects.filter(team=team, month=month).update(limit=member_monthly_cap)
    return budget
