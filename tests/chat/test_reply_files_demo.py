"""The files of gpt-4-all and Suno chat replies end to end: the demo gateway streams the
links and serves the files on its loopback socket (allowed: the configured gateway's own host
and port), Parlor copies them through gateway.download."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from chat.models import Attachment
from demo_gateway import allmodels
from tests.factories import make_conversation
from tests.sockets import assistant_id_in, get_message, is_final, receive_until, send_action

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, title="", model="gpt-4-all")


async def _ask(socket, text: str):
    await send_action(socket, "send", text=text)
    first = await socket.receive_from(timeout=10)
    message_id = assistant_id_in([first])
    frames = [first, *await receive_until(socket, is_final(message_id))]
    message = await get_message(message_id)
    attachments = await database_sync_to_async(
        lambda: list(Attachment.objects.filter(message=message).order_by("position"))
    )()
    return message, attachments, frames


async def test_gpt_4_all_pictures_and_file_are_copied_the_private_one_is_not(
    alice_socket, conversation, demo_gateway
):
    message, attachments, _frames = await _ask(alice_socket, "draw a boat, private, file")

    assert [(a.kind, a.content_type) for a in attachments] == [
        ("image", "image/png"),
        ("image", "image/png"),
        ("file", "application/pdf"),
    ]
    assert all(a.source_url.startswith(demo_gateway.base_url) for a in attachments)
    for attachment in attachments:
        assert f"/c/{conversation.pk}/attachments/{attachment.pk}/file/" in message.html
    assert allmodels.PRIVATE_PICTURE not in message.html
    assert "The image at 10.0.0.1 could not be copied." in message.html
    assert demo_gateway.base_url not in message.html
    assert message.status == "complete"


async def test_a_suno_chat_song_becomes_a_card(alice_socket, conversation, demo_gateway):
    conversation.model = "suno-v3.5"
    await database_sync_to_async(conversation.save)(update_fields=["model"])

    message, attachments, frames = await _ask(alice_socket, "a song about the sea")

    assert [a.content_type for a in attachments] == ["image/png", "audio/wav", "image/gif"]
    assert message.status == "complete"  # no finish_reason: Suno's chat models send none
    assert "🎵" not in "".join(frames) and "🎵" not in message.content
    card = message.html.split('class="job-clip reply-song"', 1)[1]
    assert "<h4>演示歌曲" in card and "<audio controls" in card
    assert f"/c/{conversation.pk}/attachments/{attachments[2].pk}/file/" in card  # the video
