from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def parlor(request: HttpRequest) -> dict:
    return {
        "DEMO_GATEWAY": settings.DEMO_GATEWAY,
        "MESSAGE_MAX_CHARS": settings.MESSAGE_MAX_CHARS,
        "current_team": getattr(request, "team", None),
        "current_membership": getattr(request, "membership", None),
    }
