"""Titles written by a model after a conversation's first reply (chat.titles): over the real
socket with the reply stream faked and the title request answered by an httpx.MockTransport at
the gateway client's seam."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
import pytest
from channels.db import database_sync_to_async

from chat import titles
from chat.models import Conversation
from gateway.client import use_transport
from tests.sockets import TIMEOUT, assistant_id_in, is_final, receive_until, send_action
from usage.models import Price, TeamBudget, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

KEY = "sk-test-secret-key"  # config.settings.test's GATEWAY_API_KEY
MODEL = "cheap-model"


class TitleGateway:
    """Answers every chat completion with `answer`; keeps the bodies it was sent."""

    def __init__(self, answer: str = "Picnic by the lake", status: int = 200) -> None:
        self.answer, self.status = answer, status
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        body = {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.answer}}],
            "usage": {"prompt_tokens": 90, "completion_tokens": 5, "total_tokens": 95},
        }
        return httpx.Response(self.status, json=body)


@pytest.fixture
def cheap(db):
    return Price.objects.create(
        model=MODEL, prompt_per_1k=Decimal("0.001"), completion_per_1k=Decimal("0.002")
    )


@pytest.fixture
def conversation(team, alice, cheap):
    from tests.factories import make_conversation

    return make_conversation(team, alice, title="", model=MODEL)


@pytest.fixture(autouse=True)
def _gateway_address(settings):
    settings.GATEWAY_BASE_URL = "http://gateway.test"  # answered by the MockTransport


@pytest.fixture
def titles_on(settings):
    settings.TITLE_MODEL = ""
    settings.TITLE_MAX_COST = 0.01


async def _first_reply(socket, fake_stream, gateway: TitleGateway, text: str) -> list[str]:
    """Send `text`, wait for the reply's final frame and the title task; the frames after."""
    fake_stream(["Sure, ", "here is a plan."])
    with use_transport(httpx.MockTransport(gateway)):
        await send_action(socket, "send", text=text)
        first = await socket.receive_from(timeout=TIMEOUT)
        message_id = assistant_id_in([first])
        await receive_until(socket, is_final(message_id))
        await titles.wait_for_titles()
    frames = []
    while not await socket.receive_nothing(timeout=0.2):
        frames.append(await socket.receive_from(timeout=TIMEOUT))
    return frames


async def _title(conversation) -> str:
    return (await Conversation.objects.aget(pk=conversation.pk)).title


async def _title_records() -> list[UsageRecord]:
    return [r async for r in UsageRecord.objects.filter(kind=UsageRecord.Kind.TITLE)]


async def test_the_model_titles_the_conversation_and_every_tab_hears_of_it(
    titles_on, alice_socket, conversation, fake_stream
):
    gateway = TitleGateway("Picnic by the lake")

    frames = await _first_reply(alice_socket, fake_stream, gateway, "Plan a picnic for Sunday")

    assert await _title(conversation) == "Picnic by the lake"
    pushed = "".join(frames)
    # The heading (app.js copies it to the sidebar's entry) and the announcement.
    assert (
        '<span id="conversation-title" hx-swap-oob="innerHTML">Picnic by the lake</span>' in pushed
    )
    assert "now titled “Picnic by the lake”" in pushed
    body = gateway.bodies[0]
    assert body["model"] == MODEL and body["stream"] is False and body["max_tokens"] == 20
    assert "Plan a picnic for Sunday" in body["messages"][-1]["content"]
    [record] = await _title_records()  # charged once, with the gateway's counts
    assert record.status == UsageRecord.Status.SETTLED
    assert (record.prompt_tokens, record.completion_tokens) == (90, 5)
    assert record.conversation_id == conversation.pk and record.message_id
    assert record.cost == Decimal("0.000100")


async def test_a_second_reply_asks_for_no_title(titles_on, alice_socket, conversation, fake_stream):
    gateway = TitleGateway("Picnic by the lake")
    await _first_reply(alice_socket, fake_stream, gateway, "Plan a picnic for Sunday")
    await _first_reply(alice_socket, fake_stream, gateway, "And if it rains?")

    assert len(gateway.bodies) == 1
    assert len(await _title_records()) == 1


async def test_a_rename_meanwhile_wins(titles_on, alice_socket, conversation, monkeypatch):
    gateway = TitleGateway("Picnic by the lake")
    ask = titles.gateway_chat.complete_chat

    async def renamed_first(**kwargs):
        await Conversation.objects.filter(pk=conversation.pk).aupdate(title="My own name")
        return await ask(**kwargs)

    monkeypatch.setattr(titles.gateway_chat, "complete_chat", renamed_first)
    from tests.sockets import FakeStream

    monkeypatch.setattr("gateway.chat.stream_chat", FakeStream(["Sure."]))
    with use_transport(httpx.MockTransport(gateway)):
        await send_action(alice_socket, "send", text="Plan a picnic")
        first = await alice_socket.receive_from(timeout=TIMEOUT)
        await receive_until(alice_socket, is_final(assistant_id_in([first])))
        await titles.wait_for_titles()

    assert await _title(conversation) == "My own name"
    [record] = await _title_records()  # the call was made: it is paid for all the same
    assert record.status == UsageRecord.Status.SETTLED


async def test_a_budget_refusal_keeps_the_first_line_silently(
    titles_on, alice_socket, conversation, fake_stream, team
):
    gateway = TitleGateway("Picnic by the lake")
    # The reply fits the budget; nothing is left for the title afterwards.
    budget = await database_sync_to_async(TeamBudget.objects.create)(
        team=team, monthly_limit=Decimal("0.000100")
    )
    assert budget.pk

    frames = await _first_reply(alice_socket, fake_stream, gateway, "Plan a picnic")

    assert await _title(conversation) == "Plan a picnic"
    assert gateway.bodies == []
    assert await _title_records() == []
    assert not any("budget" in frame for frame in frames)


async def test_titles_off(settings, alice_socket, conversation, fake_stream):
    settings.TITLE_MODEL = "off"
    gateway = TitleGateway()

    await _first_reply(alice_socket, fake_stream, gateway, "Plan a picnic")

    assert await _title(conversation) == "Plan a picnic"
    assert gateway.bodies == []


async def test_an_expensive_own_model_is_not_asked(
    titles_on, alice_socket, conversation, fake_stream, cheap
):
    cheap.prompt_per_1k = Decimal("0.05")  # 300 prompt tokens: 0.015 > TITLE_MAX_COST
    await database_sync_to_async(cheap.save)()
    gateway = TitleGateway()

    await _first_reply(alice_socket, fake_stream, gateway, "Plan a picnic")

    assert await _title(conversation) == "Plan a picnic"
    assert gateway.bodies == []


async def test_a_named_title_model_is_asked_whatever_the_conversation_uses(
    settings, alice_socket, conversation, fake_stream, cheap
):
    cheap.prompt_per_1k = Decimal("0.05")
    await database_sync_to_async(cheap.save)()
    settings.TITLE_MODEL = "tiny-titler"
    gateway = TitleGateway("Lakeside picnic")

    await _first_reply(alice_socket, fake_stream, gateway, "Plan a picnic")

    assert gateway.bodies[0]["model"] == "tiny-titler"
    assert await _title(conversation) == "Lakeside picnic"


async def test_a_failed_title_request_is_refunded(
    titles_on, alice_socket, conversation, fake_stream
):
    gateway = TitleGateway(status=502)

    await _first_reply(alice_socket, fake_stream, gateway, "Plan a picnic")

    assert await _title(conversation) == "Plan a picnic"
    [record] = await _title_records()
    assert record.status == UsageRecord.Status.REFUNDED


async def test_a_hostile_title_is_sanitised_and_the_key_redacted(
    titles_on, alice_socket, conversation, fake_stream
):
    hostile = (
        f'  **Title: "<img src=x onerror=alert(1)>Picnic   {KEY} plans!!"**\n' + "second line " * 50
    )
    gateway = TitleGateway(hostile)

    frames = await _first_reply(alice_socket, fake_stream, gateway, "Plan a picnic")

    title = await _title(conversation)
    assert title == "Picnic [redacted] plans"
    assert KEY not in "".join(frames) and "test-secret" not in "".join(frames)
    assert "<img" not in "".join(frames)


@pytest.mark.parametrize("model", ["gpt-4-all", "gpt-4-gizmo-g-abc", "suno-v3.5"])
def test_a_model_that_makes_files_is_not_asked_for_its_title(titles_on, cheap, model):
    Price.objects.create(model=model)  # free: the price is not why
    assert titles.title_model(model) is None
    assert titles.title_model(MODEL) == MODEL


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ("「春天的诗」。", "春天的诗"),
        ("# Sourdough at home\n", "Sourdough at home"),
        ("word " * 40, ("word " * 40)[:59].strip() + "…"),
        ("\n\n  ", ""),
        ("sk-TEST-SECRET-KEY", "[redacted]"),
    ],
)
def test_clean_title(answer, title):
    assert titles.clean_title(answer) == title
    assert len(titles.clean_title(answer)) <= titles.MAX_CHARS


def test_a_title_record_left_reserved_is_refunded_by_the_sweep(team, alice, conversation):
    from chat.services import close_reply_record
    from tests.factories import make_message
    from usage import services as money

    reply = make_message(conversation, role="assistant", content="Sure.")
    record = money.reserve(
        team=team,
        user=alice,
        role="owner",
        kind=UsageRecord.Kind.TITLE,
        model=MODEL,
        amount=Decimal("0.001"),
        conversation=conversation,
        message=reply,
    )

    assert close_reply_record(record)
    record.refresh_from_db()
    assert record.status == UsageRecord.Status.REFUNDED


async def test_the_final_frame_does_not_wait_for_the_title(
    titles_on, alice_socket, conversation, fake_stream, monkeypatch
):
    gate = asyncio.Event()

    async def slow_title(**kwargs):
        await gate.wait()
        return "Picnic by the lake", None

    monkeypatch.setattr(titles.gateway_chat, "complete_chat", slow_title)
    fake_stream(["Sure."])

    await send_action(alice_socket, "send", text="Plan a picnic")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    frames = await receive_until(alice_socket, is_final(assistant_id_in([first])))

    assert "Reply finished." in frames[-1]
    assert await _title(conversation) == "Plan a picnic"  # the title is still being asked
    gate.set()
    await titles.wait_for_titles()
    assert await _title(conversation) == "Picnic by the lake"
    [record] = await _title_records()  # no counts from the gateway: estimated from the text
    assert record.status == UsageRecord.Status.SETTLED and record.estimated
