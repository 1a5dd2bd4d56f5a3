"""Every route refuses a state-changing request without a CSRF token, generated from the URL
configuration: each unsafe method against each route, signed in as the owner of what the
route names (so only the missing token stands in the way)."""

from __future__ import annotations

import pytest
from django.http import HttpResponseForbidden
from django.test import Client

from tests.security.conftest import fast_client
from tests.security.routes import Route
from tests.security.test_tenancy import FORM, ROUTES, _url

UNSAFE = ("post", "put", "patch", "delete")
REFUSAL = b"csrf-refused"


def csrf_failure(request, reason: str = "") -> HttpResponseForbidden:
    """CSRF_FAILURE_VIEW for these tests: a refusal the assertions can tell from any other 403."""
    return HttpResponseForbidden(REFUSAL)


@pytest.fixture
def strict_client(alice, team_a, settings) -> Client:
    settings.CSRF_FAILURE_VIEW = "tests.security.test_csrf.csrf_failure"
    return fast_client(enforce_csrf_checks=True, user=alice)


def _answers(client: Client, route: Route, url: str) -> list[str]:
    accepted = []
    for method in UNSAFE:
        response = getattr(client, method)(url, FORM) if method == "post" else None
        if response is None:
            response = getattr(client, method)(url)
        if response.status_code == 405:  # the view takes no such request at all
            continue
        if response.content != REFUSAL:
            accepted.append(f"{method.upper()} {url} -> {response.status_code}")
    return accepted


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_no_state_change_without_a_csrf_token(route, strict_client, team_a):
    before = team_a.rows()
    assert _answers(strict_client, route, _url(route, team_a)) == []
    assert team_a.rows() == before


def test_the_same_request_with_its_token_gets_past_the_check(strict_client, team_a):
    """The control: the refusals above are the token's doing."""
    strict_client.get(f"/c/{team_a.conversation.pk}/")
    token = strict_client.cookies["csrftoken"].value
    url = f"/c/{team_a.conversation.pk}/rename/"
    response = strict_client.post(url, {"title": "Renamed"}, HTTP_X_CSRFTOKEN=token)
    assert response.content != REFUSAL
    team_a.conversation.refresh_from_db()
    assert team_a.conversation.title == "Renamed"
