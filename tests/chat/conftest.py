"""Chat fixtures: persona session cookies, a conversation of alice's (modules may override it),
her open tab, a patched gateway stream, and no reply left running after a test."""

from __future__ import annotations

import pytest

from chat import streaming
from tests.factories import make_conversation
from tests.sockets import TIMEOUT, FakeStream, cookie_for, open_socket, stop_generations


@pytest.fixture(autouse=True)
async def _no_generation_left_running():
    """Stop what a test (even a failed one) left running, so it cannot hang the next one."""
    yield
    await stop_generations()


@pytest.fixture
def fake_stream(monkeypatch):
    def install(tokens, **kwargs) -> FakeStream:
        stream = FakeStream(tokens, **kwargs)
        monkeypatch.setattr("gateway.chat.stream_chat", stream)
        return stream

    return install


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, title="")


@pytest.fixture
def alice_cookie(alice, team):
    return cookie_for(alice)


@pytest.fixture
def bob_cookie(bob, team):
    return cookie_for(bob)


@pytest.fixture
def victor_cookie(victor, team):
    return cookie_for(victor)


@pytest.fixture
def charlie_cookie(charlie, other_team):
    return cookie_for(charlie)


@pytest.fixture
async def alice_socket(conversation, alice_cookie):
    communicator, connected = await open_socket(conversation, alice_cookie)
    assert connected
    await communicator.receive_from(timeout=TIMEOUT)  # idle controls
    yield communicator
    await communicator.disconnect()
    await streaming.wait_for_leaving()  # before the test's event loop closes
