"""A socket lives no longer than the session that opened it: after a logout, a password
change or a deactivation it closes when told access changed, and a send that comes first
(the event missed or late) starts nothing and never reaches the gateway."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.live import user_group
from chat import consumers, starts
from chat.models import Message
from chat.sessions import session_is_current
from tests.sockets import (
    TIMEOUT,
    closed,
    open_socket,
    receive_until,
    send_action,
    session_key_of,
    stop_generations,
    watch_access_changes,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _no_generation_left_running():
    yield
    await stop_generations()


def _log_out(cookie: bytes) -> None:
    client = Client()
    client.cookies["sessionid"] = session_key_of(cookie)
    assert client.post(reverse("accounts:logout")).status_code == 302


def _change_password(user, cookie: bytes) -> None:
    user.set_password("another-long-passphrase-entirely")
    user.save()


def _deactivate(user, cookie: bytes) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


ENDINGS = {
    "logout": lambda user, cookie: _log_out(cookie),
    "password change": _change_password,
    "deactivation": _deactivate,
}


@pytest.mark.parametrize("ending", ENDINGS)
async def test_access_changed_closes_a_socket_whose_session_ended(
    alice, alice_cookie, alice_socket, ending
):
    await database_sync_to_async(ENDINGS[ending])(alice, alice_cookie)

    await get_channel_layer().group_send(user_group(alice.pk), {"type": "access.changed"})

    assert await closed(alice_socket)


async def test_access_changed_keeps_a_socket_whose_session_is_valid(
    alice, alice_socket, monkeypatch
):
    rechecked = watch_access_changes(monkeypatch)
    await get_channel_layer().group_send(user_group(alice.pk), {"type": "access.changed"})

    await asyncio.wait_for(rechecked.wait(), TIMEOUT)
    await send_action(alice_socket, "sync")  # still answering
    assert '<div id="thread"' in await alice_socket.receive_from(timeout=TIMEOUT)


@pytest.mark.parametrize("ending", ENDINGS)
async def test_a_send_after_the_session_ended_starts_nothing(
    alice, alice_cookie, alice_socket, conversation, fake_stream, ending
):
    stream = fake_stream(["never"])
    await database_sync_to_async(ENDINGS[ending])(alice, alice_cookie)

    await send_action(alice_socket, "send", text="Still here?")  # no event came first

    assert await closed(alice_socket)
    assert stream.calls == []
    assert not await database_sync_to_async(
        Message.objects.filter(conversation=conversation).exists
    )()


@pytest.mark.parametrize("ending", ENDINGS)
async def test_sync_after_the_session_ended_sends_no_thread(
    alice, alice_cookie, alice_socket, ending
):
    await database_sync_to_async(ENDINGS[ending])(alice, alice_cookie)

    await send_action(alice_socket, "sync")

    assert await closed(alice_socket)


# chat.sessions on its own: the same rules as django.contrib.auth.get_user.


def test_a_fresh_session_is_current(alice, alice_cookie):
    assert session_is_current(session_key_of(alice_cookie), alice)


def test_a_session_of_someone_else_is_not(alice, bob, bob_cookie):
    assert not session_is_current(session_key_of(bob_cookie), alice)


def test_no_session_key_is_not(alice):
    assert not session_is_current("", alice)
    assert not session_is_current(None, alice)


def test_a_session_signed_before_a_secret_key_rotation_still_is(settings, alice, alice_cookie):
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert not session_is_current(session_key_of(alice_cookie), alice)

    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert session_is_current(session_key_of(alice_cookie), alice)


async def test_a_socket_that_knew_an_expired_session_checks_in_full_once(
    conversation, alice_cookie, fake_stream, monkeypatch
):
    """A start past the session expiry the socket knew takes the full check (the session may
    have been extended); the socket then keeps the new expiry, so the next start takes the
    shared path again instead of the full check every time."""
    load = consumers._load_conversation
    calls = []

    def known_expired_at_connect(user, conversation_id, session):
        found, may_write, checked = load(user, conversation_id, session)
        if not calls:  # the connect: as if the socket had known an expiry now past
            checked = starts.Checked(
                checked.version, checked.role, timezone.now() - timedelta(seconds=1)
            )
        calls.append(checked)
        return found, may_write, checked

    full_checks = []
    begin_reply = starts.begin_reply

    def counted(**kwargs):
        full_checks.append(kwargs["action"])
        return begin_reply(**kwargs)

    monkeypatch.setattr(consumers, "_load_conversation", known_expired_at_connect)
    monkeypatch.setattr(starts, "begin_reply", counted)
    fake_stream(["ok"])
    communicator, connected = await open_socket(conversation, alice_cookie)
    assert connected
    for text in ("First", "Second"):
        await send_action(communicator, "send", text=text)
        await receive_until(communicator, lambda f: "Reply finished." in f)

    assert full_checks == ["send"]  # the first only
    assert len(calls) == 2 and calls[1].session_expires > timezone.now()
    await communicator.disconnect()
