"""accounts.live.push_fragment through the real routing (config.asgi) and the in-memory layer:
a fragment pushed to a conversation's, a team's or a user's group reaches those tabs as is, and
no tab outside the group (charlie, of another team, above all)."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async

from accounts.live import apush_fragment, push_fragment, team_group, user_group
from tests.factories import make_conversation
from tests.sockets import TIMEOUT, group_size, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

CARD = '<div id="job-7" hx-swap-oob="outerHTML">Midjourney: 40%</div>'


@pytest.fixture
async def tabs(team, other_team, alice, bob, charlie, alice_cookie, bob_cookie, charlie_cookie):
    """alice on her private chat, bob on a shared one of his, charlie on his (other team)."""
    alices_chat = await database_sync_to_async(make_conversation)(team, alice)
    bobs_chat = await database_sync_to_async(make_conversation)(team, bob, is_shared=True)
    charlies_chat = await database_sync_to_async(make_conversation)(other_team, charlie)
    opened = {}
    for name, chat, cookie in [
        ("alice", alices_chat, alice_cookie),
        ("bob", bobs_chat, bob_cookie),
        ("charlie", charlies_chat, charlie_cookie),
    ]:
        communicator, connected = await open_socket(chat, cookie)
        assert connected
        await communicator.receive_from(timeout=TIMEOUT)  # idle controls
        opened[name] = communicator
    opened["chats"] = (alices_chat, bobs_chat, charlies_chat)
    yield opened
    for name in ("alice", "bob", "charlie"):
        await opened[name].disconnect()


async def _next_frames(tabs, names, marker_groups) -> dict[str, str]:
    """Each tab's next frame, after a marker is pushed to each tab's own user group: a tab the
    fragment did not reach gets the marker first (the layer keeps the order of sends)."""
    for group in marker_groups:
        await apush_fragment(group, "<p>marker</p>")
    return {name: await tabs[name].receive_from(timeout=TIMEOUT) for name in names}


async def test_a_push_to_a_team_reaches_its_members_tabs_only(tabs, team, alice, bob, charlie):
    await apush_fragment(team_group(team.pk), CARD)

    frames = await _next_frames(tabs, ["alice", "bob", "charlie"], [user_group(charlie.pk)])

    assert frames["alice"] == frames["bob"] == CARD  # sent as is
    assert frames["charlie"] == "<p>marker</p>"


async def test_a_push_to_a_user_reaches_that_users_tabs_only(tabs, alice, bob, charlie):
    await sync_to_async(push_fragment)(user_group(bob.pk), CARD)  # as a worker process would

    markers = [user_group(alice.pk), user_group(charlie.pk)]
    frames = await _next_frames(tabs, ["alice", "bob", "charlie"], markers)

    assert frames == {"alice": "<p>marker</p>", "bob": CARD, "charlie": "<p>marker</p>"}


async def test_a_push_to_a_conversation_reaches_its_tabs_only(tabs, alice, bob, charlie):
    _alices, bobs_chat, _charlies = tabs["chats"]

    await apush_fragment(bobs_chat.group_name, CARD)

    markers = [user_group(alice.pk), user_group(charlie.pk)]
    frames = await _next_frames(tabs, ["alice", "bob", "charlie"], markers)

    assert frames == {"alice": "<p>marker</p>", "bob": CARD, "charlie": "<p>marker</p>"}


async def test_a_closed_tab_leaves_the_team_group(tabs, team):
    # Redis keeps groups between tests (team ids repeat): compare before and after.
    before = await group_size(team_group(team.pk))
    assert before >= 2  # alice's and bob's tabs at least

    await tabs["alice"].disconnect()

    assert await group_size(team_group(team.pk)) == before - 1
