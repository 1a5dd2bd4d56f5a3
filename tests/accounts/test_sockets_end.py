"""Every websocket (the chat's and the gallery's) closes when the session or the access behind
it ends, whatever ended it: logout, a password change, deactivation, removal from the team.
The trigger is the real one (a view or a model save); the signals in accounts.signals tell the
user's sockets, which re-check and close: 4401 when the session ended, 4403 when access did."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from accounts.live import CLOSE_ACCESS_LOST, CLOSE_SESSION_ENDED, push_fragment, team_group
from config.asgi import application
from tests.factories import make_conversation
from tests.sockets import TIMEOUT, cookie_for, session_key_of, stop_generations

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _no_generation_left_running():
    yield
    await stop_generations()


def _log_out(user, cookie: bytes) -> None:
    client = Client()
    client.cookies["sessionid"] = session_key_of(cookie)
    assert client.post(reverse("accounts:logout")).status_code == 302


def _change_password(user, cookie: bytes) -> None:
    user.set_password("another-long-passphrase-entirely")
    user.save()


def _deactivate(user, cookie: bytes) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


def _remove_from_team(user, cookie: bytes) -> None:
    user.memberships.all().delete()


TRIGGERS: dict[str, tuple[Callable[..., None], int]] = {
    "logout": (_log_out, CLOSE_SESSION_ENDED),
    "password change": (_change_password, CLOSE_SESSION_ENDED),
    "deactivation": (_deactivate, CLOSE_SESSION_ENDED),
    "removal from the team": (_remove_from_team, CLOSE_ACCESS_LOST),
}


def _path(kind: str, team, alice) -> str:
    if kind == "media":
        return "/ws/media/"
    conversation = make_conversation(team, alice, is_shared=True)
    return f"/ws/chat/{conversation.pk}/"


async def _open(path: str, cookie: bytes) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver"), (b"cookie", cookie)]
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _code = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def _close_code(communicator: WebsocketCommunicator) -> int | None:
    """The code of the close the server sends next (frames before it are skipped)."""
    while True:
        output = await communicator.receive_output(timeout=TIMEOUT)
        if output["type"] == "websocket.close":
            return output.get("code")


@pytest.mark.parametrize("kind", ["chat", "media"])
@pytest.mark.parametrize("trigger", TRIGGERS)
async def test_the_socket_closes(kind, trigger, team, alice, bob):
    path = await database_sync_to_async(_path)(kind, team, alice)
    cookie = await database_sync_to_async(cookie_for)(bob)
    communicator = await _open(path, cookie)
    end, code = TRIGGERS[trigger]

    await database_sync_to_async(end)(bob, cookie)

    assert await _close_code(communicator) == code
    await communicator.disconnect()


@pytest.mark.parametrize("kind", ["chat", "media"])
async def test_a_change_that_keeps_access_keeps_the_socket(kind, team, alice, bob):
    path = await database_sync_to_async(_path)(kind, team, alice)
    cookie = await database_sync_to_async(cookie_for)(bob)
    communicator = await _open(path, cookie)

    def demote() -> None:
        membership = bob.memberships.get(team=team)
        membership.role = "viewer"
        membership.save()

    await database_sync_to_async(demote)()

    # Still open: it gets what the team's tabs get.
    await database_sync_to_async(push_fragment)(team_group(team.pk), "<div id='x'></div>")
    frames = []
    while "<div id='x'></div>" not in frames:
        output = await communicator.receive_output(timeout=TIMEOUT)
        assert output["type"] == "websocket.send"
        frames.append(output.get("text"))
    await communicator.disconnect()


def _routes(app) -> list:
    """The URLRouter's routes under config.asgi's websocket middleware."""
    while not hasattr(app, "routes"):
        app = getattr(app, "inner", None) or app.application
    return app.routes


def test_every_routed_consumer_is_one_these_tests_open():
    """A new websocket must join the kinds tested above (and close like these two)."""
    websocket = application.application_mapping["websocket"]
    consumers = {route.callback.consumer_class.__name__ for route in _routes(websocket)}
    assert consumers == {"ChatConsumer", "MediaConsumer"}


async def test_a_removed_members_gallery_gets_no_more_team_notices(team, alice, bob):
    cookie = await database_sync_to_async(cookie_for)(bob)
    communicator = await _open("/ws/media/", cookie)
    await database_sync_to_async(_remove_from_team)(bob, cookie)
    assert await _close_code(communicator) == CLOSE_ACCESS_LOST

    await database_sync_to_async(push_fragment)(team_group(team.pk), "<div id='job-1'></div>")

    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
