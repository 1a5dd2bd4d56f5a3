"""Tenancy on every route, generated from the URL configuration (tests/security/routes.py).

Each parameter a route takes is classified here: a team-owned object (filled with team A's),
a free value (a variant, a format, a tool), or an admin one. A route with a parameter this
module cannot classify fails `test_every_route_is_classified`, so a new route cannot be
forgotten; routes anyone may open are listed in PUBLIC with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import make_conversation
from tests.security.conftest import SECRET, TeamA
from tests.security.routes import Route, http_routes

OWNED: dict[str, Callable[[TeamA], Any]] = {
    "conversation_id": lambda a: a.conversation.pk,
    "message_id": lambda a: a.message.pk,
    "attachment_id": lambda a: a.attachment.pk,
    "gpt_id": lambda a: a.gpt.pk,
    "job_id": lambda a: a.job.pk,
    "file_id": lambda a: a.media_file.pk,
    "invite_id": lambda a: a.invite.pk,
    "membership_id": lambda a: a.membership.pk,
    "record_id": lambda a: a.record.pk,
    "team_id": lambda a: a.team.pk,
    "folder_id": lambda a: a.folder.pk,
}
FREE: dict[str, Any] = {
    "variant": "file",
    "fmt": "markdown",
    "index": 0,
    "tool": "imagine",
    "token": "forged-token",  # only public routes take one (PUBLIC says why)
}
# The admin is for staff only, whatever it shows; its parameters need only be well formed.
ADMIN: dict[str, Any] = {
    "object_id": 1,
    "id": 1,
    "app_label": "chat",
    "content_type_id": 1,
    "url": "chat/conversation/1/",
}

PUBLIC: dict[str, str] = {
    "health": "load balancers probe it; says only whether the process and database answer",
    "favicon.ico": "a redirect to the static icon",
    "set_language": "Django's language switch: sets a cookie, shows nothing",
    "dismiss_demo_notice": "sets a session flag hiding the demo banner, shows nothing",
    "accounts:login": "the sign-in page",
    "accounts:logout": "signing out is harmless for anyone (POST only)",
    "accounts:setup": "the first-run page; a 404 once any user exists",
    "accounts:invite_accept": "the token is the capability; a forged one finds nothing "
    "(test_forged_tokens_find_nothing)",
    "chat:attachment_link": "a signed, expiring link for the gateway to fetch a sent image; "
    "a forged one finds nothing (test_forged_tokens_find_nothing)",
    "admin:login": "the admin's sign-in page",
    "admin:logout": "signing out is harmless for anyone",
}

METHODS = ("get", "post", "put", "patch", "delete")
REFUSED = {403, 404, 405}
# Plausible form fields, so a write view is refused for who is asking, not for a missing field.
FORM = {"title": "x", "role": "viewer", "name": "x", "gizmo_id": "g-zzz", "monthly_limit": "1"}

ROUTES = http_routes()


def _kind(route: Route) -> str:
    if route.name in PUBLIC:
        return "public"
    known = ADMIN if route.namespace == "admin" else {**OWNED, **FREE}
    if not set(route.params) <= set(known):
        return "unclassified"
    if route.namespace == "admin":
        return "admin"
    return "object" if set(route.params) & set(OWNED) else "plain"


def _url(route: Route, team_a: TeamA | None) -> str:
    values: dict[str, Any] = dict(ADMIN if route.namespace == "admin" else FREE)
    if team_a is not None and route.namespace != "admin":
        values.update({name: fill(team_a) for name, fill in OWNED.items()})
    else:
        values.update(dict.fromkeys(OWNED, 1))
    return route.url(values)


def _is_login_redirect(response, route: Route) -> bool:
    if response.status_code not in (301, 302):
        return False
    login = reverse("admin:login" if route.namespace == "admin" else settings.LOGIN_URL)
    return response["Location"].split("?")[0] == login


def _ask(client: Client, route: Route, url: str) -> list[str]:
    """Every method against `url`; the answers that were not refusals."""
    leaks = []
    # AdminSite.admin_view refuses before any admin view looks at the method.
    for method in METHODS[:2] if route.namespace == "admin" else METHODS:
        data = FORM if method == "post" else None
        response = getattr(client, method)(url, data) if data else getattr(client, method)(url)
        body = b"".join(response) if response.streaming else response.content
        refused = response.status_code in REFUSED or _is_login_redirect(response, route)
        if not refused or SECRET.encode() in body:
            leaks.append(f"{method.upper()} {url} -> {response.status_code}")
    return leaks


def _routes(*kinds: str) -> list[Route]:
    return [route for route in ROUTES if _kind(route) in kinds]


def test_every_route_is_classified():
    unclassified = [f"{r.name} {r.params}" for r in ROUTES if _kind(r) == "unclassified"]
    assert not unclassified, "classify these routes in tests/security/test_tenancy.py"
    assert not set(PUBLIC) - {route.name for route in ROUTES}, "PUBLIC names a route that left"


def test_the_walk_finds_the_routes_we_know():
    kinds = {route.name: _kind(route) for route in ROUTES}
    assert kinds["chat:conversation"] == "object"
    assert kinds["media_jobs:file_variant"] == "object"
    assert kinds["usage:overview"] == "plain"
    assert kinds["admin:chat_conversation_change"] == "admin"
    assert len(_routes("object")) >= 30


@pytest.mark.parametrize("route", _routes("object"), ids=lambda r: r.name)
def test_an_outsider_gets_nothing_of_team_a(route, team_a, charlie_client):
    before = team_a.rows()
    assert _ask(charlie_client, route, _url(route, team_a)) == []
    assert team_a.rows() == before


# Parameters naming an object private to its creator until shared (accounts.models.TeamOwned).
PRIVATE = {"conversation_id", "message_id", "attachment_id", "job_id", "file_id", "folder_id"}
UNSAFE = ("post", "put", "patch", "delete")


def _private_routes() -> list[Route]:
    return [route for route in _routes("object") if set(route.params) & PRIVATE]


@pytest.mark.parametrize("route", _private_routes(), ids=lambda r: r.name)
def test_a_teammate_gets_nothing_of_a_private_object(route, team_a, bob_client):
    """Inside team A too: what alice has not shared is bob's 404, as for an outsider."""
    team_a.conversation.is_shared = team_a.job.is_shared = False
    team_a.conversation.save(update_fields=["is_shared"])
    team_a.job.save(update_fields=["is_shared"])
    before = team_a.rows()
    assert _ask(bob_client, route, _url(route, team_a)) == []
    assert team_a.rows() == before


@pytest.mark.parametrize("route", _private_routes(), ids=lambda r: r.name)
def test_a_viewer_changes_nothing(route, team_a, victor_client):
    """Shared objects are readable by a viewer of team A, never writable."""
    before = team_a.rows()
    url = _url(route, team_a)
    for method in UNSAFE:
        response = victor_client.post(url, FORM) if method == "post" else None
        response = response or getattr(victor_client, method)(url)
        assert response.status_code in REFUSED or response.status_code == 302, (method, url)
    assert team_a.rows() == before


@pytest.mark.parametrize("route", _routes("object", "plain", "admin"), ids=lambda r: r.name)
def test_anonymous_is_refused(route, team_a, client):
    before = team_a.rows()
    assert _ask(client, route, _url(route, team_a)) == []
    assert team_a.rows() == before


@pytest.mark.parametrize("route", _routes("admin"), ids=lambda r: r.name)
def test_the_admin_refuses_members_who_are_not_staff(route, team_a, alice_client):
    assert _ask(alice_client, route, _url(route, None)) == []


@pytest.mark.parametrize(
    "url", ["/accounts/invite/forged-token/", "/attachments/forged-token/"], ids=str
)
def test_forged_tokens_find_nothing(url, team_a, charlie_client, client):
    for asking in (charlie_client, client):
        response = asking.get(url)
        assert SECRET.encode() not in response.content
        assert response.status_code in (200, 404)


def test_ids_in_query_strings_and_bodies_reach_nothing_of_team_a(team_a, charlie, charlie_client):
    """The ids a form or a link carries besides the path: team A's, from an outsider."""
    own = make_conversation(charlie.memberships.get().team, charlie)
    before = team_a.rows()
    asks = [
        (
            "get",
            reverse("media_jobs:new", args=["imagine"]),
            {"conversation": team_a.conversation.pk},
        ),
        (
            "post",
            reverse("media_jobs:new", args=["imagine"]),
            {"conversation": team_a.conversation.pk},
        ),
        ("post", reverse("accounts:team_switch"), {"team_id": team_a.team.pk}),
        ("post", reverse("chat:switch_version", args=[own.pk]), {"message_id": team_a.message.pk}),
    ]
    for method, url, data in asks:
        response = getattr(charlie_client, method)(url, data)
        assert response.status_code in REFUSED, (url, data, response.status_code)
        assert SECRET.encode() not in response.content
    assert charlie_client.session.get("team_id") != team_a.team.pk
    assert team_a.rows() == before
