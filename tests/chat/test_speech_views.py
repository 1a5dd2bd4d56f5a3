"""Read aloud end to end against the demo gateway: a part is bought once (kept per message,
voice and speed), charged by the character through the money path, refused by a budget
before anything goes upstream, refunded when the gateway sends an error inside a 200; only
a ticket from a CSRF-checked POST lets a GET buy, and only people who may read the
conversation get anything."""

from __future__ import annotations

import asyncio
import io
import wave
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import AsyncClient, Client
from django.urls import reverse

from chat import speech
from chat.models import Message, SpeechClip
from tests.factories import make_conversation, make_message
from usage.models import Price, TeamBudget, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

PER_1K = Decimal("0.015")
REPLY = "# Result\n\nThe answer is four. It always was!\n\n```python\nprint(2 + 2)\n```\n"


@pytest.fixture(autouse=True)
def _speech_settings(settings, tmp_path, demo_gateway):
    settings.MEDIA_ROOT = tmp_path
    settings.SPEECH_FORMAT = "wav"
    settings.SPEECH_MODEL = "tts-1"
    Price.objects.update_or_create(model="tts-1", defaults={"per_1k_characters": PER_1K})


@pytest.fixture
def reply(team, alice) -> Message:
    conversation = make_conversation(team, alice)
    question = make_message(conversation, content="What is 2 + 2?", author=alice)
    return make_message(conversation, role=Message.Role.ASSISTANT, content=REPLY, parent=question)


async def _client(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


def _plan_url(message: Message) -> str:
    return reverse("chat:speech_plan", args=[message.conversation_id, message.pk])


async def _body(response) -> bytes:
    if response.streaming:
        return b"".join([chunk async for chunk in response.streaming_content])
    return response.content


async def _bought(message: Message, timeout: float = 10.0) -> None:
    """Wait for the purchases in flight to be stored: they end in tasks of their own, after
    the response. Awaited, not polled: on the test database (SQLite's shared cache) a read
    while a purchase writes makes that write fail with "table is locked" (a file in WAL mode,
    as in production, never does)."""
    async with asyncio.timeout(timeout):
        while speech._tasks:
            await asyncio.gather(*speech._tasks, return_exceptions=True)
    pending = SpeechClip.objects.filter(message=message, status=SpeechClip.Status.PENDING)
    assert not await pending.aexists(), "a purchase ended without being stored"


def _speech_calls(gateway) -> int:
    return sum(r.path == "/v1/audio/speech" for r in gateway.requests)


async def _plan(client, message, **data):
    response = await client.post(_plan_url(message), data)
    assert response.status_code == 200, response.content
    return response.json()


async def test_the_plan_lists_parts_and_each_part_plays_real_audio(alice, reply, demo_gateway):
    client = await _client(alice)
    plan = await _plan(client, reply, voice="nova", speed="1.25")
    assert (plan["voice"], plan["speed"]) == ("nova", "1.25")
    assert len(plan["parts"]) == 1
    response = await client.get(plan["parts"][0]["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    with wave.open(io.BytesIO(await _body(response))) as audio:
        assert audio.getnframes() > 0
    sent = next(r.json for r in demo_gateway.requests if r.path == "/v1/audio/speech")
    assert sent["voice"] == "nova" and sent["speed"] == 1.25 and sent["model"] == "tts-1"
    assert "A code block in Python." in sent["input"] and "print" not in sent["input"]


async def test_a_part_is_bought_once_and_charged_by_the_character(alice, reply, demo_gateway):
    client = await _client(alice)
    url = (await _plan(client, reply))["parts"][0]["url"]
    first = await _body(await client.get(url))
    again = await client.get(url)
    assert await _body(again) == first
    # Without the ticket too: the stored clip is served, nothing is bought.
    plain = url.split("&t=")[0]
    assert await _body(await client.get(plain)) == first
    assert _speech_calls(demo_gateway) == 1
    clip = await SpeechClip.objects.aget()
    assert clip.status == SpeechClip.Status.READY and clip.size == len(first)
    records = [r async for r in UsageRecord.objects.all()]
    assert len(records) == 1
    record = records[0]
    assert record.kind == UsageRecord.Kind.AUDIO and record.message_id == reply.pk
    assert record.status == UsageRecord.Status.SETTLED
    assert record.cost == (Decimal(clip.characters) * PER_1K / 1000).quantize(Decimal("0.000001"))


async def test_another_voice_or_speed_is_another_clip(alice, reply, demo_gateway):
    client = await _client(alice)
    for voice, speed in (("alloy", "1"), ("echo", "1"), ("alloy", "1.5")):
        url = (await _plan(client, reply, voice=voice, speed=speed))["parts"][0]["url"]
        assert (await client.get(url)).status_code == 200
        await _bought(reply)
    assert _speech_calls(demo_gateway) == 3
    assert await SpeechClip.objects.acount() == 3


async def test_a_long_cjk_reply_is_read_in_parts_under_the_byte_limit(
    alice, team, demo_gateway, settings
):
    settings.SPEECH_FIRST_PART_BYTES = 300
    conversation = await make_conversation_async(team, alice)
    # About 4,800 characters, 13,000 bytes: every sentence differs, so no part repeats another.
    text = "".join(f"这是一个很长的回答中的第{i}句话。" for i in range(300))
    message = await Message.objects.acreate(
        conversation=conversation, role=Message.Role.ASSISTANT, content=text
    )
    client = await _client(alice)
    plan = await _plan(client, message)
    assert len(plan["parts"]) >= 4
    for part in plan["parts"]:
        assert (await client.get(part["url"])).status_code == 200
        await _bought(message)
    inputs = [r.json["input"] for r in demo_gateway.requests if r.path == "/v1/audio/speech"]
    assert "".join(inputs) == text
    assert len(inputs[0].encode()) <= 300
    assert all(len(i.encode()) <= settings.SPEECH_MAX_BYTES for i in inputs)


async def make_conversation_async(team, user):
    from asgiref.sync import sync_to_async

    return await sync_to_async(make_conversation)(team, user)


async def test_an_error_inside_a_200_is_shown_and_refunded(alice, team, demo_gateway):
    conversation = await make_conversation_async(team, alice)
    message = await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="[demo:speech_json_200] This reply makes the gateway fail.",
    )
    client = await _client(alice)
    url = (await _plan(client, message))["parts"][0]["url"]
    response = await client.get(url)
    assert response.status_code == 502
    error = response.json()["error"]
    assert "voice engine busy" in error
    clip = await SpeechClip.objects.aget()
    assert clip.status == SpeechClip.Status.FAILED and not clip.file
    record = await UsageRecord.objects.aget()
    assert record.status == UsageRecord.Status.REFUNDED and record.cost == 0
    # The player asks again without its ticket to show why: nothing goes upstream.
    calls = _speech_calls(demo_gateway)
    explained = await client.get(url.split("&t=")[0])
    assert explained.status_code == 502 and explained.json()["error"] == error
    assert _speech_calls(demo_gateway) == calls


async def test_a_budget_refuses_before_anything_goes_upstream(alice, team, reply, demo_gateway):
    await TeamBudget.objects.acreate(team=team, monthly_limit=Decimal(0))
    client = await _client(alice)
    url = (await _plan(client, reply))["parts"][0]["url"]
    response = await client.get(url)
    assert response.status_code == 402
    assert "budget" in response.json()["error"]
    assert _speech_calls(demo_gateway) == 0
    assert await SpeechClip.objects.acount() == 0
    assert await UsageRecord.objects.acount() == 0


async def test_charlie_cannot_plan_or_fetch_another_teams_clip(
    alice, charlie, other_team, reply, demo_gateway
):
    alice_client = await _client(alice)
    url = (await _plan(alice_client, reply))["parts"][0]["url"]
    bought = await alice_client.get(url)
    assert bought.status_code == 200
    await _body(bought)
    await _bought(reply)  # the purchase writes after the answer: done before the next login
    charlie_client = await _client(charlie)
    assert (await charlie_client.post(_plan_url(reply))).status_code == 404
    assert (await charlie_client.get(url)).status_code == 404
    assert (await charlie_client.get(url.split("&t=")[0])).status_code == 404


async def test_a_get_without_a_ticket_cannot_buy(alice, reply, demo_gateway):
    client = await _client(alice)
    url = reverse("chat:speech_part", args=[reply.conversation_id, reply.pk, 0])
    response = await client.get(url + "?voice=alloy&speed=1")
    assert response.status_code == 404
    forged = await client.get(url + "?voice=alloy&speed=1&t=forged")
    assert forged.status_code == 404
    assert _speech_calls(demo_gateway) == 0
    assert await UsageRecord.objects.acount() == 0


async def test_a_ticket_is_for_its_voice_speed_and_user(alice, bob, reply, demo_gateway):
    reply_conversation = await reply.conversation.__class__.objects.aget(pk=reply.conversation_id)
    reply_conversation.is_shared = True
    await reply_conversation.asave(update_fields=["is_shared"])
    client = await _client(alice)
    url = (await _plan(client, reply, voice="alloy", speed="1"))["parts"][0]["url"]
    other_voice = url.replace("voice=alloy", "voice=echo")
    assert (await client.get(other_voice)).status_code == 404
    bob_client = await _client(bob)
    assert (await bob_client.get(url)).status_code == 404  # alice's ticket, not bob's
    assert _speech_calls(demo_gateway) == 0


def test_the_plan_needs_the_csrf_token(alice, reply):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(_plan_url(reply)).status_code == 403


def test_a_viewer_gets_no_ticket(alice, victor, reply):
    reply.conversation.is_shared = True
    reply.conversation.save(update_fields=["is_shared"])
    client = Client()
    client.force_login(victor)
    plan = client.post(_plan_url(reply)).json()
    assert "t" not in parse_qs(urlsplit(plan["parts"][0]["url"]).query)


def test_a_voice_the_model_does_not_know_is_refused(alice, reply):
    client = Client()
    client.force_login(alice)
    assert client.post(_plan_url(reply), {"voice": "marin"}).status_code == 400
    assert client.post(_plan_url(reply), {"speed": "9"}).status_code == 400


def test_the_plan_uses_the_members_saved_voice_and_speed(alice, reply):
    alice.speech_voice, alice.speech_speed = "onyx", Decimal("0.75")
    alice.save(update_fields=["speech_voice", "speech_speed"])
    client = Client()
    client.force_login(alice)
    plan = client.post(_plan_url(reply)).json()
    assert (plan["voice"], plan["speed"]) == ("onyx", "0.75")


def test_a_streaming_or_user_message_has_nothing_to_read(alice, team):
    conversation = make_conversation(team, alice)
    question = make_message(conversation, content="Hi")
    streaming = make_message(
        conversation, role=Message.Role.ASSISTANT, content="Hal", status=Message.Status.STREAMING
    )
    client = Client()
    client.force_login(alice)
    for message in (question, streaming):
        assert client.post(_plan_url(message)).status_code == 404


async def test_the_sample_is_bought_once_and_charged_to_the_current_team(alice, team, demo_gateway):
    client = await _client(alice)
    response = await client.post(reverse("chat:speech_sample"), {"voice": "fable", "speed": "1"})
    url = response.json()["url"]
    first = await _body(await client.get(url))
    assert first[:4] == b"RIFF"
    second = await _body(await client.get(url))
    assert first == second and _speech_calls(demo_gateway) == 1
    record = await UsageRecord.objects.aget()
    assert record.team_id == team.pk and record.kind == UsageRecord.Kind.AUDIO
    clip = await SpeechClip.objects.aget()
    assert clip.message_id is None


def test_the_sweep_settles_a_stored_clip_and_refunds_a_dead_purchase(alice, team, reply):
    from usage import services as money

    membership = team.memberships.get(user=alice)
    parts = speech.message_parts(reply)
    clip, buying = speech.begin_purchase(
        membership=membership, user=alice, message=reply, voice="alloy",
        speed=Decimal(1), part=parts[0],
    )  # fmt: skip
    assert buying
    record = clip.record
    assert speech.close_record(record) is False  # still being bought
    SpeechClip.objects.filter(pk=clip.pk).update(updated_at="2000-01-01T00:00Z")
    assert money.sweep_reservations(older_than=__import__("datetime").timedelta(0)) == 1
    record.refresh_from_db()
    assert record.status == UsageRecord.Status.REFUNDED
