"""The composer's Complete mode end to end: the websocket through the real routing, the real
gateway client and the demo gateway's /v1/completions; the money path around it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse

from chat import completions
from chat.models import Message
from demo_gateway.completions import CONTINUATION
from demo_gateway.replies import tokenize
from gateway import catalogue
from gateway.types import ChatEnd, Usage
from tests.sockets import (
    TIMEOUT,
    FakeStream,
    assistant_id_in,
    get_message,
    is_final,
    receive_until,
    send_action,
    streamed_text,
)
from usage import services as money
from usage.models import Price, TeamBudget, TeamMonth, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

INSTRUCT = "gpt-3.5-turbo-instruct"
OPTIONS = {"complete_model": INSTRUCT, "max_tokens": "5", "temperature": "0.3", "stop": ""}


@pytest.fixture
def instruct_listed(demo_gateway):
    """The demo gateway's models listed (its instruct model among them) and priced."""
    catalogue.refresh_chat_models()
    Price.objects.create(
        model=INSTRUCT, prompt_per_1k=Decimal("0.0015"), completion_per_1k=Decimal("0.002")
    )
    return demo_gateway


def completion_requests(gateway) -> list:
    return [r for r in gateway.requests if r.path == "/v1/completions"]


async def complete(socket, text: str = "Once upon a time", **options) -> tuple[int, list[str]]:
    await send_action(socket, "send", mode="complete", text=text, **{**OPTIONS, **options})
    first = await socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    return message_id, [first, *await receive_until(socket, is_final(message_id))]


@database_sync_to_async
def record_of(message_id: int) -> UsageRecord:
    return UsageRecord.objects.get(message_id=message_id)


@database_sync_to_async
def messages_of(conversation) -> list[Message]:
    return list(conversation.messages.order_by("pk"))


# What is offered


def test_the_mode_is_offered_only_when_the_gateway_lists_an_instruct_model(
    alice_client, conversation, demo_gateway
):
    url = conversation.get_absolute_url()
    demo_gateway.models = ["gpt-4o-mini", "gpt-4o"]
    catalogue.refresh_chat_models()
    page = alice_client.get(url).content.decode()
    assert 'value="complete"' not in page
    assert 'id="complete-options"' not in page

    demo_gateway.models = ["gpt-4o-mini", INSTRUCT]
    catalogue.refresh_chat_models()
    page = alice_client.get(url).content.decode()
    assert '<option value="complete">Complete</option>' in page
    assert f'<option value="{INSTRUCT}">{INSTRUCT}</option>' in page  # its model select
    model_picker = page.split('id="model-select"')[1].split("</select>")[0]
    assert INSTRUCT not in model_picker  # not a chat model


# A completion


async def test_a_completion_streams_over_the_socket_and_is_kept(
    alice_socket, conversation, instruct_listed
):
    message_id, frames = await complete(alice_socket, max_tokens="5")

    sent = completion_requests(instruct_listed)[-1].json
    assert sent["model"] == INSTRUCT
    assert sent["prompt"] == "Once upon a time"
    assert sent["max_tokens"] == 5
    assert sent["temperature"] == 0.3
    assert "stop" not in sent
    assert sent["stream_options"] == {"include_usage": True}
    reply = await get_message(message_id)
    expected = "".join(tokenize(CONTINUATION)[:5])
    assert reply.content == expected
    assert streamed_text(frames, message_id) == expected
    assert reply.status == Message.Status.COMPLETE
    assert reply.finish_reason == "length"
    assert reply.model == INSTRUCT
    assert reply.html.startswith('<div class="completion-text">')
    prompt = await get_message(reply.parent_id)
    assert prompt.content == "Once upon a time"
    assert prompt.params == {
        "mode": "complete",
        "model": INSTRUCT,
        "max_tokens": 5,
        "temperature": 0.3,
        "stop": [],
    }
    assert "Reply finished." in frames[-1]
    # The composer that replaces the sent one still offers the mode (complete.js restores it).
    assert '<option value="complete">Complete</option>' in frames[0]


async def test_stop_sequences_go_upstream_and_end_the_text(alice_socket, instruct_listed):
    message_id, _frames = await complete(alice_socket, max_tokens="200", stop="END\nmax")

    assert completion_requests(instruct_listed)[-1].json["stop"] == ["END", "max"]
    reply = await get_message(message_id)
    assert reply.content == CONTINUATION[: CONTINUATION.index("max")]
    assert reply.finish_reason == "stop"


async def test_the_usage_chunk_is_charged_as_reported(alice_socket, instruct_listed):
    message_id, _frames = await complete(alice_socket, max_tokens="5")

    record = await record_of(message_id)
    reply = await get_message(message_id)
    assert record.status == UsageRecord.Status.SETTLED
    assert record.estimated is False  # the gateway's chat-shaped usage chunk was read
    assert record.kind == UsageRecord.Kind.CHAT
    assert record.model == INSTRUCT
    assert record.completion_tokens == reply.completion_tokens == 5
    assert record.prompt_tokens == reply.prompt_tokens == len("Once upon a time") // 4
    price = await database_sync_to_async(money.quote)(
        INSTRUCT, prompt_tokens=record.prompt_tokens, completion_tokens=5
    )
    assert record.cost == price.amount > 0


async def test_the_ledger_balances_after_completions(alice_socket, team, instruct_listed):
    await complete(alice_socket, max_tokens="5")
    await complete(alice_socket, max_tokens="7")

    @database_sync_to_async
    def totals():
        month = TeamMonth.objects.get(team=team)
        records = UsageRecord.objects.filter(team=team)
        return month, sum(r.cost for r in records), [r.status for r in records]

    month, cost, statuses = await totals()
    assert statuses == [UsageRecord.Status.SETTLED] * 2
    assert month.reserved == 0
    assert month.spent == cost > 0


async def test_a_budget_bounds_the_completion_to_what_is_left(
    alice_socket, conversation, team, instruct_listed
):
    # All of max_tokens would be 4000 tokens at 0.002 per 1K: more than is left. The
    # completion asks for what is left pays for instead, and reserves that.
    await database_sync_to_async(TeamBudget.objects.create)(
        team=team, monthly_limit=Decimal("0.005")
    )

    message_id, _frames = await complete(alice_socket, text="Hi", max_tokens="4000")

    sent = completion_requests(instruct_listed)[0].json["max_tokens"]
    assert 0 < sent < 4000
    cost = await database_sync_to_async(money.quote)(
        INSTRUCT, prompt_tokens=1, completion_tokens=sent
    )
    assert cost.amount <= Decimal("0.005")
    assert (await record_of(message_id)).status == UsageRecord.Status.SETTLED


async def test_a_budget_used_up_refuses_the_completion_before_anything_goes_upstream(
    alice_socket, conversation, team, instruct_listed
):
    await database_sync_to_async(TeamBudget.objects.create)(team=team, monthly_limit=Decimal(0))

    options = {**OPTIONS, "max_tokens": "4000"}
    await send_action(alice_socket, "send", mode="complete", text="Hi", **options)
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert "budget" in frame
    assert 'id="composer"' in frame and ">Hi</textarea>" in frame
    assert completion_requests(instruct_listed) == []
    assert await messages_of(conversation) == []
    assert await database_sync_to_async(UsageRecord.objects.count)() == 0


async def test_a_small_completion_fits_the_same_budget(alice_socket, team, instruct_listed):
    await database_sync_to_async(TeamBudget.objects.create)(
        team=team, monthly_limit=Decimal("0.005")
    )
    message_id, _frames = await complete(alice_socket, max_tokens="5")
    assert (await get_message(message_id)).status == Message.Status.COMPLETE


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_tokens": "5000"}, "Max tokens"),
        ({"max_tokens": "0"}, "Max tokens"),
        ({"temperature": "2.5"}, "Temperature"),
        ({"stop": "a\nb\nc\nd\ne"}, "At most 4 stop sequences."),
        ({"complete_model": "gpt-4o-mini"}, "does not complete text"),
    ],
)
async def test_options_out_of_range_are_refused_with_nothing_saved(
    alice_socket, conversation, instruct_listed, options, error
):
    await send_action(alice_socket, "send", mode="complete", text="Hi", **{**OPTIONS, **options})
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert error in frame
    assert await messages_of(conversation) == []
    assert completion_requests(instruct_listed) == []


async def test_a_prompt_that_looks_like_a_command_is_completed_as_written(
    alice_socket, instruct_listed
):
    message_id, _frames = await complete(alice_socket, text="/imagine a fox")
    assert completion_requests(instruct_listed)[-1].json["prompt"] == "/imagine a fox"
    assert (await get_message(message_id)).status == Message.Status.COMPLETE


# Again, with the same options


async def test_regenerate_runs_the_completion_again_with_the_same_options(
    alice_socket, instruct_listed
):
    first_id, _frames = await complete(alice_socket, max_tokens="6", stop="max", temperature="1.5")
    await send_action(alice_socket, "regenerate", message_id=first_id)
    frames = await receive_until(alice_socket, lambda f: "Reply finished." in f)

    first, second = completion_requests(instruct_listed)[-2:]
    assert second.json == first.json
    assert second.json["max_tokens"] == 6 and second.json["temperature"] == 1.5
    second_id = assistant_id_in(frames)
    regenerated = await get_message(second_id)
    assert second_id != first_id
    assert regenerated.parent_id == (await get_message(first_id)).parent_id
    assert regenerated.params["max_tokens"] == 6
    assert regenerated.model == INSTRUCT


async def test_an_edited_prompt_keeps_its_options(alice_socket, instruct_listed):
    first_id, _frames = await complete(alice_socket, max_tokens="4")
    prompt_id = (await get_message(first_id)).parent_id
    await send_action(alice_socket, "edit", message_id=prompt_id, text="Twice upon a time")
    await receive_until(alice_socket, lambda f: "Reply finished." in f)

    sent = completion_requests(instruct_listed)[-1].json
    assert sent["prompt"] == "Twice upon a time"
    assert sent["max_tokens"] == 4


async def test_a_chat_message_after_a_completion_is_chat_again(alice_socket, instruct_listed):
    await complete(alice_socket, max_tokens="4")
    await send_action(alice_socket, "send", text="And now a chat", **OPTIONS)
    await receive_until(alice_socket, lambda f: "Reply finished." in f)

    last = instruct_listed.requests[-1]
    assert last.path == "/v1/chat/completions"
    assert last.json["messages"][-1]["content"] == "And now a chat"


# Stop


async def test_stop_charges_what_was_delivered(alice_socket, instruct_listed, monkeypatch):
    stream = FakeStream(["Once", " more", " and"], gate_at=2)
    monkeypatch.setattr("gateway.completions.stream_completion", stream)

    await send_action(alice_socket, "send", mode="complete", text="Go on", **OPTIONS)
    frames = [await alice_socket.receive_from(timeout=TIMEOUT)]
    message_id = assistant_id_in(frames)
    while streamed_text(frames, message_id) != "Once more":  # what came before the gate
        frames.append(await alice_socket.receive_from(timeout=TIMEOUT))
    await send_action(alice_socket, "stop")
    await receive_until(alice_socket, is_final(message_id))
    stream.gate.set()

    reply = await get_message(message_id)
    record = await record_of(message_id)
    assert stream.calls[0]["max_tokens"] == 5 and stream.calls[0]["prompt"] == "Go on"
    assert reply.status == Message.Status.STOPPED
    assert reply.content == "Once more"
    assert record.status == UsageRecord.Status.SETTLED
    assert record.estimated is True
    assert record.completion_tokens == money.estimate_tokens("Once more")
    assert record.cost > 0


async def test_the_reply_is_shown_as_plain_text(alice_socket, instruct_listed, monkeypatch):
    text = "# not a heading\n\n  **kept** <b>as</b> written"
    stream = FakeStream([text], end=ChatEnd("stop", Usage(3, 9, 12)))
    monkeypatch.setattr("gateway.completions.stream_completion", stream)

    message_id, frames = await complete(alice_socket)

    reply = await get_message(message_id)
    assert streamed_text(frames, message_id) == text  # no markdown block rendered on the way
    assert reply.html == (
        '<div class="completion-text"># not a heading\n\n'
        "  **kept** &lt;b&gt;as&lt;/b&gt; written</div>"
    )
    assert "<h1>" not in frames[-1]


async def test_a_completion_is_on_the_usage_page(alice_socket, alice_client, instruct_listed):
    await complete(alice_socket, max_tokens="5")
    page = await database_sync_to_async(alice_client.get)(reverse("usage:overview"))
    assert INSTRUCT in page.content.decode()


def test_options_are_read_back_from_a_message_defensively():
    assert completions.CompletionOptions.from_params({}) is None
    assert completions.CompletionOptions.from_params({"mode": "complete"}) is None
    options = completions.CompletionOptions.from_params(
        {"mode": "complete", "model": "m", "max_tokens": 10**9, "temperature": "hot", "stop": 3}
    )
    assert options == completions.CompletionOptions("m", completions.MAX_TOKENS, None, ())
