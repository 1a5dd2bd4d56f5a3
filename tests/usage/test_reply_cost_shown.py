"""A reply's Details show what it cost as soon as it is stored: the final frame carries the
charge settled in the same transaction, for the tab that wrote it and for the others."""

from __future__ import annotations

import pytest

from tests.sockets import TIMEOUT, assistant_id_in, is_final, receive_until, send_action

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_final_frame_shows_the_settled_cost(alice_socket, fake_stream, price):
    fake_stream(["Hello", " there"])  # 11 prompt and 2 completion tokens: 0.015

    await send_action(alice_socket, "send", text="Go")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    frames = await receive_until(alice_socket, is_final(message_id))

    assert '<dd class="message-cost">0.0150 USD</dd>' in frames[-1]
