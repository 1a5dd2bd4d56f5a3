"""Through the real websocket: a recording goes with the message it was made for (and only
an unlinked one of the sender's, in this conversation), and /translate ("Translate audio")
answers with the English text under a player of the original, charged per minute."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from chat import commands
from chat.models import Attachment, Message
from tests.factories import make_conversation
from tests.sockets import TIMEOUT, cookie_for, open_socket, receive_until, send_action
from tests.usage.ledger import assert_ledger_balances
from tests.voice.conftest import make_audio
from usage.models import TeamBudget, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(user, conversation, kind="webm", **extra) -> dict:
    client = Client()
    client.force_login(user)
    file = SimpleUploadedFile("clip", make_audio(kind, seconds=1), content_type="audio/webm")
    url = reverse("voice:upload", args=[conversation.pk])
    response = client.post(url, {"audio": file, **extra})
    assert response.status_code == 201, response.content
    return response.json()


def _attachment_of(user, conversation) -> Attachment:
    from django.core.files.base import ContentFile

    attachment = Attachment(
        conversation=conversation, uploaded_by=user, kind="audio", content_type="audio/webm"
    )
    attachment.file.save("a.webm", ContentFile(make_audio("webm", 1)), save=False)
    attachment.save()
    return attachment


async def _tab(conversation, user):
    cookie = await database_sync_to_async(cookie_for)(user)
    communicator, connected = await open_socket(conversation, cookie)
    assert connected
    await communicator.receive_from(timeout=TIMEOUT)  # idle controls
    return communicator


def test_the_mode_is_offered():
    assert ("translate", "Translate audio") in commands.modes()


async def test_a_recording_goes_with_its_message(team, alice, bob, demo_gateway):
    conversation = await database_sync_to_async(make_conversation)(team, alice, is_shared=True)
    other = await database_sync_to_async(make_conversation)(team, alice)
    mine = await database_sync_to_async(_upload)(alice, conversation, purpose="translate")
    elsewhere = await database_sync_to_async(_upload)(alice, other, purpose="translate")
    # Only its creator writes in a conversation: a teammate's row is made by hand.
    bobs = {"id": (await database_sync_to_async(_attachment_of)(bob, conversation)).pk}
    tab = await _tab(conversation, alice)
    # Ids of what is not this member's to send (another conversation's, a teammate's): the
    # send is refused, the composer comes back saying why, nothing is saved or linked.
    for ids in ([mine["id"], elsewhere["id"]], [mine["id"], bobs["id"]]):
        await send_action(tab, "send", text="What I said", attachments=ids)
        refused = await receive_until(tab, lambda f: 'id="composer"' in f)
        assert "no longer there" in refused[-1]
    # Junk is dropped (no row can have such an id); the recording goes with the message.
    await send_action(tab, "send", text="What I said", attachments=[mine["id"], "junk", 10**30])
    frames = await receive_until(tab, lambda f: 'data-message-status="complete"' in f)
    await tab.disconnect()
    player = reverse("chat:attachment", args=[conversation.pk, mine["id"], "file"])
    assert any(f'<audio controls preload="metadata" src="{player}"' in f for f in frames)

    def linked():
        return dict(Attachment.objects.values_list("pk", "message__content"))

    assert await database_sync_to_async(linked)() == {
        mine["id"]: "What I said",
        elsewhere["id"]: None,  # another conversation's
        bobs["id"]: None,  # someone else's, though in this conversation
    }

    # The page shows the player under the message too.
    def page() -> str:
        client = Client()
        client.force_login(alice)
        return client.get(conversation.get_absolute_url()).content.decode()

    assert player in await database_sync_to_async(page)()


async def test_translate_answers_in_english_under_a_player(team, alice, demo_gateway):
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    upload = await database_sync_to_async(_upload)(alice, conversation, "m4a", purpose="translate")
    tab = await _tab(conversation, alice)
    await send_action(tab, "send", text="", mode="translate")
    frames = await receive_until(tab, lambda f: 'id="composer"' in f)
    await tab.disconnect()
    html = "".join(frames)
    assert reverse("chat:attachment", args=[conversation.pk, upload["id"], "file"]) in html
    assert "The quick brown fox" in html and "Transcribed 1.0 seconds" in html

    def stored():
        messages = list(Message.objects.filter(conversation=conversation).order_by("pk"))
        return messages, list(UsageRecord.objects.all())

    messages, records = await database_sync_to_async(stored)()
    question, answer = messages
    assert question.role == "user" and answer.role == "assistant"
    assert answer.parent_id == question.pk and answer.status == "complete"
    assert answer.model == "whisper-1" and "quick brown fox" in answer.content
    (record,) = records
    assert record.kind == "audio" and record.status == "settled" and record.message_id == answer.pk
    assert (await database_sync_to_async(Attachment.objects.get)()).message_id == question.pk
    requests = [r for r in demo_gateway.requests if r.path.startswith("/v1/audio/")]
    assert [r.path for r in requests] == ["/v1/audio/translations"]
    await database_sync_to_async(assert_ledger_balances)(team)


async def test_translate_without_a_file_says_so(team, alice, demo_gateway):
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    tab = await _tab(conversation, alice)
    await send_action(tab, "send", text="/translate")
    frame = (await receive_until(tab, lambda f: 'id="composer"' in f))[-1]
    await tab.disconnect()
    assert "Choose an audio file to translate first." in frame


async def test_translate_is_refused_by_the_budget_before_upstream(team, alice, demo_gateway):
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    await database_sync_to_async(_upload)(alice, conversation, purpose="translate")
    await database_sync_to_async(TeamBudget.objects.create)(team=team, monthly_limit=0)
    tab = await _tab(conversation, alice)
    await send_action(tab, "send", text="", mode="translate")
    frame = (await receive_until(tab, lambda f: 'id="composer"' in f))[-1]
    await tab.disconnect()
    assert "budget" in frame
    assert not [r for r in demo_gateway.requests if r.path.startswith("/v1/audio/")]
    count = await database_sync_to_async(Message.objects.count)()
    assert count == 0


async def test_a_failed_translation_is_refunded(team, alice, demo_gateway):
    conversation = await database_sync_to_async(make_conversation)(team, alice)
    await database_sync_to_async(_upload)(alice, conversation, purpose="translate")
    demo_gateway.scenario = "http_503"
    tab = await _tab(conversation, alice)
    await send_action(tab, "send", text="", mode="translate")
    frames = await receive_until(tab, lambda f: 'id="composer"' in f)
    await tab.disconnect()
    assert 'data-message-status="failed"' in "".join(frames)
    record = await database_sync_to_async(UsageRecord.objects.get)()
    assert record.status == "refunded"
    await database_sync_to_async(assert_ledger_balances)(team)
