from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from accounts.views import DEMO_NOTICE_DISMISSED


def parlor(request: HttpRequest) -> dict:
    return {
        "DEMO_GATEWAY": settings.DEMO_GATEWAY,
        "DEMO_NOTICE": settings.DEMO_GATEWAY and not _dismissed(request),
        "MESSAGE_MAX_CHARS": settings.MESSAGE_MAX_CHARS,
        "current_team": getattr(request, "team", None),
        "current_membership": getattr(request, "membership", None),
    }


def _dismissed(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return bool(session and session.get(DEMO_NOTICE_DISMISSED))
