"""Every websocket route (walked from config.asgi's router): an outsider, an anonymous
visitor and a page of another origin are all refused the handshake."""

from __future__ import annotations

from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application
from tests.security.routes import Route, websocket_routes
from tests.security.test_tenancy import FREE, OWNED, PRIVATE
from tests.sockets import TIMEOUT, cookie_for

pytestmark = pytest.mark.django_db(transaction=True)

ROUTES = websocket_routes()
OWN_ORIGIN = b"http://testserver"
FOREIGN_ORIGINS = [
    b"http://evil.example",
    b"https://testserver",  # another scheme
    b"http://testserver:8080",  # another port
    b"http://testserver.evil.example",
    b"http://evil.example/http://testserver",
    b"null",
    None,  # browsers always send one; a handshake without it is not a browser's
]


def _path(route: Route, team_a: Any) -> str:
    values = {name: fill(team_a) for name, fill in OWNED.items()} | FREE
    return route.url(values)


async def _connects(path: str, cookie: bytes | None, origin: bytes | None) -> bool:
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie:
        headers.append((b"cookie", cookie))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _code = await communicator.connect(timeout=TIMEOUT)
    await communicator.disconnect()
    return connected


@pytest.fixture
def cookies(team_a, alice, bob, charlie, other_team) -> dict[str, bytes]:
    return {"alice": cookie_for(alice), "bob": cookie_for(bob), "charlie": cookie_for(charlie)}


def test_every_websocket_route_is_classified():
    assert [route.name for route in ROUTES], "no websocket routes found"
    for route in ROUTES:
        assert set(route.params) <= set(OWNED) | set(FREE), route.name


async def test_the_owner_connects_from_our_origin(team_a, cookies):
    """The control: without it the refusals below would prove nothing."""
    for route in ROUTES:
        assert await _connects(_path(route, team_a), cookies["alice"], OWN_ORIGIN), route.name


async def test_anonymous_and_outsiders_are_refused(team_a, cookies):
    for route in ROUTES:
        path = _path(route, team_a)
        assert not await _connects(path, None, OWN_ORIGIN), route.name
        if set(route.params) & set(OWNED):
            assert not await _connects(path, cookies["charlie"], OWN_ORIGIN), route.name


async def test_a_teammate_is_refused_a_private_object(team_a, cookies):
    chat = next(route for route in ROUTES if "conversation_id" in route.params)
    assert await _connects(_path(chat, team_a), cookies["bob"], OWN_ORIGIN), "shared: let in"
    team_a.conversation.is_shared = False
    await team_a.conversation.asave(update_fields=["is_shared"])
    for route in ROUTES:
        if set(route.params) & set(PRIVATE):
            assert not await _connects(_path(route, team_a), cookies["bob"], OWN_ORIGIN), route.name


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS, ids=repr)
async def test_a_foreign_origin_is_refused_on_every_route(team_a, cookies, origin):
    for route in ROUTES:
        assert not await _connects(_path(route, team_a), cookies["alice"], origin), route.name
