from __future__ import annotations

from functools import cache, partial
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts.views import DEMO_NOTICE_DISMISSED
from config.gateway_check import GatewayServes


def parlor(request: HttpRequest) -> dict:
    return {
        "DEMO_GATEWAY": settings.DEMO_GATEWAY,
        "DEMO_NOTICE": settings.DEMO_GATEWAY and not _dismissed(request),
        "MESSAGE_MAX_CHARS": settings.MESSAGE_MAX_CHARS,
        "current_team": getattr(request, "team", None),
        "current_membership": getattr(request, "membership", None),
        "USAGE_CURRENCY": settings.USAGE_CURRENCY,
        # Called (once, then cached) only by a template that uses it: no queries otherwise.
        "budget_state": cache(partial(_budget_state, request)),
        # What the gateway serves, family -> bool, read on first use (config.gateway_check):
        # `{% if gateway_serves.images %}` around an entry point hides it where absent.
        "gateway_serves": GatewayServes(),
    }


def _budget_state(request: HttpRequest) -> Any:
    """This month's budget state of the current team and user (usage.services.BudgetState:
    `level` none / warn / over, and the numbers), or None outside a team."""
    team, user = getattr(request, "team", None), getattr(request, "user", None)
    if team is None or user is None or not user.is_authenticated:
        return None
    from usage.services import budget_state

    return budget_state(team, user)


def _dismissed(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return bool(session and session.get(DEMO_NOTICE_DISMISSED))
