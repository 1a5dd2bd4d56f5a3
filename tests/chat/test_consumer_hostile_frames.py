"""Frames no browser sends: absurd ids get a plain error and the socket goes on answering;
readers cannot make the writer's sends look busy; a socket's frames are rate limited."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async

from chat import consumers
from chat.streaming import registry
from tests.factories import make_message
from tests.sockets import TIMEOUT, open_socket, receive_until, send_action, stop_generations

pytestmark = pytest.mark.django_db(transaction=True)

GONE = "That message is no longer there."


@pytest.fixture(autouse=True)
async def _no_generation_left_running():
    yield
    await stop_generations()


async def _still_answers(communicator) -> None:
    """The socket is open and answers (skipping any error frame sent before)."""
    await send_action(communicator, "sync")
    await receive_until(communicator, lambda frame: '<div id="thread"' in frame)


# Raw JSON as a script would send it; Python's json module reads Infinity, NaN and 1e400.
ABSURD_IDS = [
    "Infinity",
    "-Infinity",
    "NaN",
    "1e400",
    "1.5",
    "0",
    "-3",
    "true",
    "1" + "0" * 39,
    '"' + "9" * 40 + '"',
    '"12abc"',
    '"\u00b2"',
    "[1, 2]",
    '{"id": 1}',
    "null",
]


@pytest.mark.parametrize("action", ["regenerate", "retry", "edit"])
@pytest.mark.parametrize("raw_id", ABSURD_IDS)
async def test_absurd_message_ids_get_a_plain_error(alice_socket, fake_stream, action, raw_id):
    stream = fake_stream(["never"])
    frame = f'{{"action": "{action}", "text": "Hi", "message_id": {raw_id}}}'

    await alice_socket.send_to(text_data=frame)

    assert GONE in await alice_socket.receive_from(timeout=TIMEOUT)
    assert stream.calls == []
    await _still_answers(alice_socket)


async def test_a_huge_existing_looking_id_is_refused_like_a_missing_one(
    alice_socket, conversation, fake_stream
):
    stream = fake_stream(["never"])
    await database_sync_to_async(make_message)(conversation, content="Hi")

    await send_action(alice_socket, "regenerate", message_id=2**63)

    assert GONE in await alice_socket.receive_from(timeout=TIMEOUT)
    assert stream.calls == []


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 100_000,  # deeper than Python's recursion limit
        '{"action": ["send"]}',
        '{"action": {"send": 1}}',
        '{"action": "send", "text": ["a", "b"]}',
        '{"action": "send", "text": {"x": 1e400}}',
        "null",
        "\ud800",
    ],
)
async def test_malformed_frames_never_kill_the_socket(alice_socket, fake_stream, frame):
    stream = fake_stream(["never"])

    await alice_socket.send_to(text_data=frame)

    await _still_answers(alice_socket)
    assert stream.calls == []


@pytest.fixture
async def shared_conversation(conversation):
    conversation.is_shared = True
    await database_sync_to_async(conversation.save)()
    return conversation


@pytest.mark.parametrize("reader", ["victor", "bob"])
async def test_a_reader_sending_reserves_nothing(
    shared_conversation, victor_cookie, bob_cookie, fake_stream, monkeypatch, reader
):
    stream = fake_stream(["never"])
    reserved = []
    monkeypatch.setattr(registry, "reserve", lambda conversation_id: reserved.append(1))
    cookie = victor_cookie if reader == "victor" else bob_cookie
    tab, connected = await open_socket(shared_conversation, cookie)
    assert connected

    for _ in range(3):
        await send_action(tab, "send", text="Let me in")
        frame = await tab.receive_from(timeout=TIMEOUT)
        assert "You can read this conversation but not write in it." in frame

    assert reserved == []  # the owner's sends cannot find the conversation busy
    assert stream.calls == []
    await tab.disconnect()


async def test_frames_beyond_the_burst_are_dropped_with_one_error(alice_socket, monkeypatch):
    now = [time.monotonic()]  # the socket's bucket was filled by the real clock just now
    monkeypatch.setattr(consumers, "_clock", lambda: now[0])
    tab = alice_socket

    for _ in range(consumers.FRAME_BURST):
        await tab.send_to(text_data='{"action": "nothing"}')
    await send_action(tab, "sync")
    assert "Too many actions at once" in await tab.receive_from(timeout=TIMEOUT)
    await send_action(tab, "sync")
    assert await tab.receive_nothing(timeout=0.2)  # dropped, without a second error

    now[0] += consumers.FRAME_WINDOW_SECONDS
    await _still_answers(tab)
