from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from accounts import access
from accounts.models import User

FIRST_RUN_CACHE_KEY = "parlor:has-users"
SESSION_TEAM_KEY = "team_id"


def site_has_users() -> bool:
    if cache.get(FIRST_RUN_CACHE_KEY):
        return True
    exists = User.objects.exists()
    if exists:
        cache.set(FIRST_RUN_CACHE_KEY, True, None)
    return exists


class FirstRunMiddleware:
    """On an install with no user, every page leads to the first-run form."""

    allowed_prefixes = ("/static/", "/health", "/i18n/")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        setup_url = reverse("accounts:setup")
        if (
            request.path != setup_url
            and not request.path.startswith(self.allowed_prefixes)
            and not site_has_users()
        ):
            return redirect(setup_url)
        return self.get_response(request)


class CurrentTeamMiddleware:
    """Sets request.team and request.membership from the session, else the first team."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.team = None  # type: ignore[attr-defined]
        request.membership = None  # type: ignore[attr-defined]
        if request.user.is_authenticated:
            wanted = request.session.get(SESSION_TEAM_KEY)
            membership = access.get_current_membership(request.user, wanted)
            if membership is not None:
                request.team = membership.team  # type: ignore[attr-defined]
                request.membership = membership  # type: ignore[attr-defined]
        return self.get_response(request)
