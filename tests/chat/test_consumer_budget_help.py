"""A send the month's budget refuses says what the reader can do: an owner is sent to the Team
page's budget, a member asks the team's owners, named (chat.budget_help)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from tests.factories import make_conversation
from tests.sockets import TIMEOUT, open_socket, send_action
from usage.models import TeamBudget


def _used_up(team) -> None:
    TeamBudget.objects.create(team=team, monthly_limit=Decimal(0))


@pytest.mark.django_db(transaction=True)
async def test_an_owner_is_told_to_raise_the_budget(alice_socket, team):
    await sync_to_async(_used_up)(team)
    await send_action(alice_socket, "send", text="Hello")
    frame = await alice_socket.receive_from(timeout=TIMEOUT)
    assert "team budget is used up" in frame
    assert "Raise it on the Team page" in frame
    assert "Ask a team owner" not in frame


@pytest.mark.django_db(transaction=True)
async def test_a_member_is_told_which_owners_to_ask(team, bob, bob_cookie):
    await sync_to_async(_used_up)(team)
    conversation = await sync_to_async(make_conversation)(team, bob, title="")
    socket, connected = await open_socket(conversation, bob_cookie)
    assert connected
    try:
        await socket.receive_from(timeout=TIMEOUT)  # idle controls
        await send_action(socket, "send", text="Hello")
        frame = await socket.receive_from(timeout=TIMEOUT)
        assert "Ask a team owner (alice) to raise it." in frame
    finally:
        await socket.disconnect()
