"""Open tabs follow access changes: unsharing or deleting a conversation closes the tabs of
teammates who may no longer see it, and leaves its creator's tab alone."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    closed,
    is_delta,
    is_final,
    open_socket,
    receive_until,
    send_action,
    watch_access_changes,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _post_as(user, url: str, data: dict | None = None) -> int:
    client = Client()
    client.force_login(user)
    return client.post(url, data or {}).status_code


@pytest.fixture
def access_rechecked(monkeypatch):
    return watch_access_changes(monkeypatch)


@pytest.fixture
async def bobs_tab(conversation, bob_cookie):
    """Bob reading alice's conversation, shared with the team."""
    conversation.is_shared = True
    await database_sync_to_async(conversation.save)()
    communicator, connected = await open_socket(conversation, bob_cookie)
    assert connected
    yield communicator
    await communicator.disconnect()


async def _bobs_membership_url(team, user, name: str) -> str:
    membership = await database_sync_to_async(team.memberships.get)(user=user)
    return reverse(name, args=[team.pk, membership.pk])


async def test_unsharing_closes_teammates_tabs_but_not_the_creators(
    conversation, alice, alice_cookie, bobs_tab
):
    alices, connected = await open_socket(conversation, alice_cookie)
    assert connected
    await alices.receive_from(timeout=TIMEOUT)  # idle controls

    url = reverse("chat:unshare", args=[conversation.pk])
    assert await database_sync_to_async(_post_as)(alice, url) == 302

    assert await closed(bobs_tab)
    assert await alices.receive_nothing(timeout=0.2)
    await alices.disconnect()


async def test_deleting_closes_every_tab(conversation, alice, alice_cookie):
    alices, connected = await open_socket(conversation, alice_cookie)
    assert connected
    await alices.receive_from(timeout=TIMEOUT)

    url = reverse("chat:delete", args=[conversation.pk])
    assert await database_sync_to_async(_post_as)(alice, url) == 302

    assert await closed(alices)
    await alices.disconnect()


async def test_removing_a_member_closes_their_tabs(team, alice, bob, bobs_tab):
    url = await _bobs_membership_url(team, bob, "accounts:member_remove")
    assert await database_sync_to_async(_post_as)(alice, url) == 302

    assert await closed(bobs_tab)


async def test_a_new_role_keeps_a_reader_connected(team, alice, bob, bobs_tab, access_rechecked):
    url = await _bobs_membership_url(team, bob, "accounts:member_role")
    assert await database_sync_to_async(_post_as)(alice, url, {"role": "viewer"}) == 302

    membership = await database_sync_to_async(team.memberships.get)(user=bob)
    assert membership.role == "viewer"
    await asyncio.wait_for(access_rechecked.wait(), TIMEOUT)
    await send_action(bobs_tab, "sync")  # still connected, still reading
    assert '<div id="thread"' in await bobs_tab.receive_from(timeout=TIMEOUT)


async def test_a_demoted_creator_following_her_reply_gets_read_only_controls(
    conversation, team, alice, bob, alice_socket, fake_stream, access_rechecked
):
    stream = fake_stream(["a", "b"], gate_at=1)
    await send_action(alice_socket, "send", text="Go")
    message_id = assistant_id_in([await alice_socket.receive_from(timeout=TIMEOUT)])
    await receive_until(alice_socket, is_delta)

    await database_sync_to_async(team.memberships.filter(user=bob).update)(role="owner")
    url = await _bobs_membership_url(team, alice, "accounts:member_role")
    assert await database_sync_to_async(_post_as)(bob, url, {"role": "viewer"}) == 302
    await asyncio.wait_for(access_rechecked.wait(), TIMEOUT)
    stream.gate.set()
    frames = await receive_until(alice_socket, is_final(message_id))

    assert ">Regenerate<" not in frames[-1]
    assert 'id="composer-send"' not in frames[-1]
