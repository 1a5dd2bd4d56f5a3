from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from accounts.views import DEMO_NOTICE_DISMISSED
from usage.services import BudgetState, budget_state


def parlor(request: HttpRequest) -> dict:
    return {
        "DEMO_GATEWAY": settings.DEMO_GATEWAY,
        "DEMO_NOTICE": settings.DEMO_GATEWAY and not _dismissed(request),
        "MESSAGE_MAX_CHARS": settings.MESSAGE_MAX_CHARS,
        "USAGE_CURRENCY": settings.USAGE_CURRENCY,
        "current_team": getattr(request, "team", None),
        "current_membership": getattr(request, "membership", None),
        # A callable: the template calls it only where the banner is drawn (full pages).
        "budget": lambda: _budget(request),
    }


def _budget(request: HttpRequest) -> BudgetState | None:
    """The current team's budget state for the banner: one query, once per request."""
    if not hasattr(request, "_budget_state"):
        membership = getattr(request, "membership", None)
        user = getattr(request, "user", None)
        state = None
        if membership is not None and user is not None and user.is_authenticated:
            state = budget_state(membership.team, user)
        request._budget_state = state  # type: ignore[attr-defined]
    return request._budget_state  # type: ignore[attr-defined]


def _dismissed(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return bool(session and session.get(DEMO_NOTICE_DISMISSED))
