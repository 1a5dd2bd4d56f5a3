"""On every route (tests/security/routes.py): pages carry the framing and sniffing headers and
the application's script policy, and no redirect leaves our origin, whatever `next` or
Referer a link carries."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.security.test_tenancy import ROUTES, _kind, _url

EVIL = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "https:evil.example",
    "/%09/evil.example",
    " //evil.example",
    "javascript:alert(1)",
    "http://testserver@evil.example/",
]
PAGE_ROUTES = [r for r in ROUTES if _kind(r) in ("object", "plain", "public")]


def _leaves(location: str) -> bool:
    parts = urlsplit(location.strip().replace("\\", "/"))
    if parts.scheme in ("http", "https") and not parts.netloc:
        return True  # "https:evil.example": browsers read the host from the path
    if parts.scheme and parts.scheme not in ("http", "https"):
        return True
    return parts.netloc not in ("", "testserver")


def _redirects(asking, url: str, evil: str) -> list[str]:
    """Where a GET and a POST carrying `evil` as next and Referer were sent, if anywhere."""
    answers = (
        asking.get(url, {"next": evil}, HTTP_REFERER=evil),
        asking.post(f"{url}?next={evil}", {"next": evil}, HTTP_REFERER=evil),
    )
    return [r["Location"] for r in answers if r.status_code in (301, 302, 303, 307, 308)]


def test_the_checker_tells_outside_from_inside():
    assert all(_leaves(evil.strip()) for evil in EVIL if not evil.startswith("/%09"))
    assert not _leaves("/c/1/") and not _leaves("http://testserver/c/1/")


@pytest.mark.parametrize("route", PAGE_ROUTES, ids=lambda r: r.name)
def test_no_redirect_leaves_our_origin(route, team_a, alice_client, client):
    url = _url(route, team_a)
    # Anonymous, a route behind login_required only ever redirects to the login page.
    askers = (alice_client, client) if _kind(route) == "public" else (alice_client,)
    for asking in askers:
        if not _redirects(asking, url, EVIL[0]):
            continue  # a route that never redirects has nothing more to show
        for evil in EVIL:
            leaving = [location for location in _redirects(asking, url, evil) if _leaves(location)]
            assert not leaving, f"{url} with next={evil!r} -> {leaving}"


@pytest.mark.parametrize("route", PAGE_ROUTES, ids=lambda r: r.name)
def test_pages_cannot_be_framed_sniffed_or_run_inline_script(route, team_a, alice_client):
    response = alice_client.get(_url(route, team_a))
    assert response["X-Content-Type-Options"] == "nosniff"
    if not response.get("Content-Type", "").startswith("text/html"):
        return
    assert response["X-Frame-Options"] == "DENY"
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    script = next(
        p for p in policy.split(";") if p.strip().startswith(("script-src", "default-src"))
    )
    assert "unsafe-inline" not in script and "unsafe-eval" not in policy
