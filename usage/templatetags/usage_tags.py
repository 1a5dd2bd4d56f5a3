"""The budget section of the Team page, included by templates/accounts/team.html so that
accounts imports nothing from usage."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from accounts.models import Membership, Team
from usage import services
from usage.forms import BudgetForm
from usage.models import ZERO, TeamMonth

register = template.Library()


@register.inclusion_tag("usage/_team_budget.html", takes_context=True)
def team_budget(context: Any, team: Team, membership: Membership, members: list) -> dict:
    """Owners: the form and everyone's spend this month; members: the team's spend and their
    own; viewers: nothing."""
    if membership.role == Membership.Role.VIEWER:
        return {"show": False}
    month = services.current_month()
    row = TeamMonth.objects.filter(team=team, month=month).values("spent", "reserved").first()
    result = {
        "show": True,
        "team": team,
        "membership": membership,
        "currency": settings.USAGE_CURRENCY,
        "month": month,
        "team_spent": (row["spent"] + row["reserved"]) if row else ZERO,
        "csrf_token": context.get("csrf_token"),
    }
    budget = services.team_budget(team)
    result["limit"] = budget.monthly_limit if budget else None
    spend = services.member_spend(team, month)
    if membership.is_owner:
        result["form"] = BudgetForm(budget=budget)
        result["member_rows"] = [(m, spend.get(m.user_id, ZERO)) for m in members]
    else:
        result["own_spent"] = spend.get(membership.user_id, ZERO)
    return result
