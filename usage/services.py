"""Stand-ins for U1's engine, with the names and signatures of U1's usage.services
(`BudgetState`, `budget_state`, `apply_budget`), so the Team page, the banner and the usage
page work before the merge. U1's module replaces this one (reserve/settle/refund live there)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import Team
from usage.models import ZERO, MemberMonth, TeamBudget, TeamMonth, month_of

WARN_AT = Decimal("0.8")


@dataclass(frozen=True)
class BudgetState:
    level: str  # "none", "warn" (80 % or more used) or "over" (nothing more can be spent)
    team_used: Decimal
    team_limit: Decimal | None
    member_used: Decimal
    member_limit: Decimal | None

    @property
    def percent(self) -> int:
        """The larger share of a limit used, in percent (0 without limits)."""
        shares = [
            used / limit * 100 if limit else Decimal(100)
            for used, limit in (
                (self.team_used, self.team_limit),
                (self.member_used, self.member_limit),
            )
            if limit is not None
        ]
        return int(max(shares, default=0))


def _level(used: Decimal, limit: Decimal | None) -> int:
    if limit is None:
        return 0
    if used >= limit:
        return 2
    return 1 if used >= limit * WARN_AT else 0


def budget_state(team: Any, user: Any) -> BudgetState:
    """How much of this month's team budget and member cap is used (spent + reserved): one
    query, as it runs on every page. A month without counters yet takes the TeamBudget's
    limits, as the counters will when they are made."""
    month = month_of(timezone.localdate())
    team_month = TeamMonth.objects.filter(team=OuterRef("pk"), month=month)
    member_month = MemberMonth.objects.filter(team=OuterRef("pk"), user=user, month=month)
    row = (
        Team.objects.filter(pk=team.pk)
        .annotate(
            **{
                f"t_{name}": Subquery(team_month.values(name)[:1])
                for name in ("pk", "limit", "spent", "reserved")
            },
            **{
                f"m_{name}": Subquery(member_month.values(name)[:1])
                for name in ("pk", "limit", "spent", "reserved")
            },
        )
        .values(
            "budget__monthly_limit",
            "budget__member_monthly_cap",
            *(f"{p}_{n}" for p in "tm" for n in ("pk", "limit", "spent", "reserved")),
        )
        .first()
    )
    if row is None:
        return BudgetState("none", ZERO, None, ZERO, None)
    has_team, has_member = row["t_pk"] is not None, row["m_pk"] is not None
    team_limit = row["t_limit"] if has_team else row["budget__monthly_limit"]
    member_limit = row["m_limit"] if has_member else row["budget__member_monthly_cap"]
    team_used = (row["t_spent"] or ZERO) + (row["t_reserved"] or ZERO)
    member_used = (row["m_spent"] or ZERO) + (row["m_reserved"] or ZERO)
    level = max(_level(team_used, team_limit), _level(member_used, member_limit))
    return BudgetState(
        level=("none", "warn", "over")[level],
        team_used=team_used,
        team_limit=team_limit,
        member_used=member_used,
        member_limit=member_limit,
    )


def apply_budget(budget: TeamBudget) -> None:
    """Copy a changed budget into this month's counters (later months copy it when made)."""
    month = month_of(timezone.localdate())
    TeamMonth.objects.filter(team_id=budget.team_id, month=month).update(limit=budget.monthly_limit)
    MemberMonth.objects.filter(team_id=budget.team_id, month=month).update(
        limit=budget.member_monthly_cap
    )
