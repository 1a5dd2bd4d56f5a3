"""The budget section of the Team page, included by templates/accounts/team.html so that
accounts imports nothing from usage."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from accounts.models import Membership, Team
from usage import services
from usage.forms import BudgetForm

register = template.Library()


@register.inclusion_tag("usage/_team_budget.html", takes_context=True)
def team_budget(context: Any, team: Team, membership: Membership, members: list) -> dict:
    """Owners: the form and everyone's spend this month; members: the team's spend and their
    own; viewers: nothing."""
    if membership.role == Membership.Role.VIEWER:
        return {"show": False}
    month = services.current_month()
    result = {
        "show": True,
        "team": team,
        "membership": membership,
        "currency": settings.USAGE_CURRENCY,
        "month": month,
        # The same function, and the same rendering (usage/_spend.html), as the usage page.
        "team_spend": services.month_spend(team, month).get(team.pk, services.Spend()),
        "csrf_token": context.get("csrf_token"),
    }
    budget = services.team_budget(team)
    result["limit"] = budget.monthly_limit if budget else None
    spend = services.member_spend(team, month)
    if membership.is_owner:
        result["form"] = BudgetForm(budget=budget)
        result["member_rows"] = [(m, spend.get(m.user_id, services.Spend())) for m in members]
    else:
        result["own_spend"] = spend.get(membership.user_id, services.Spend())
    return result
