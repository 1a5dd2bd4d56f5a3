"""Regenerate with another model: a new version (sibling) written by the model chosen, the
conversation's model unchanged; the menu lists what the member may use, over the socket as
Regenerate is."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from chat.models import Conversation, Message
from tests.factories import make_conversation, make_message
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    get_message,
    is_final,
    open_socket,
    receive_until,
    send_action,
)
from usage.models import TeamBudget, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

LISTED = ["demo-fast", "demo-smart", "gpt-4-gizmo-g-abc"]


@pytest.fixture(autouse=True)
def gateway_models(monkeypatch, settings):
    settings.DEFAULT_MODEL = "demo-fast"
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda *a, **k: list(LISTED))


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, title="Q", model="demo-fast", is_shared=True)


@pytest.fixture
def reply(conversation):
    question = make_message(conversation, content="Q")
    return make_message(
        conversation, role="assistant", content="Old", parent=question, model="demo-fast"
    )


async def _regenerate(socket, reply, model: str) -> tuple[str, list[str]]:
    await send_action(socket, "regenerate", message_id=str(reply.pk), model=model)
    first = await socket.receive_from(timeout=TIMEOUT)
    return first, await receive_until(socket, is_final(assistant_id_in([first])))


async def test_a_new_version_is_written_by_the_model_chosen(
    alice_socket, conversation, reply, fake_stream
):
    stream = fake_stream(["From ", "smart"])

    first, frames = await _regenerate(alice_socket, reply, "demo-smart")

    new = await get_message(assistant_id_in([first]))
    assert (new.parent_id, new.model, new.content) == (reply.parent_id, "demo-smart", "From smart")
    assert stream.calls[0]["model"] == "demo-smart"
    assert (await get_message(reply.pk)).content == "Old"  # the old version stays
    # The conversation keeps its model; the version switcher names the version's model.
    assert (await Conversation.objects.aget(pk=conversation.pk)).model == "demo-fast"
    assert "2 / 2" in frames[-1]
    assert 'class="message-model sibling-model"' in frames[-1] and "demo-smart" in frames[-1]
    record = await UsageRecord.objects.aget(message_id=new.pk)
    assert record.model == "demo-smart"


@pytest.mark.parametrize("model", ["not-listed", "gpt-4-gizmo-g-abc", "", 42])
async def test_a_model_not_offered_is_refused(alice_socket, reply, fake_stream, model):
    stream = fake_stream(["x"])

    await send_action(alice_socket, "regenerate", message_id=str(reply.pk), model=model)
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert "Choose one of the models offered." in frame
    assert stream.calls == []
    assert await Message.objects.filter(role="assistant").acount() == 1


async def test_a_model_the_budget_does_not_allow_the_role_is_refused(
    alice_socket, team, reply, fake_stream
):
    await database_sync_to_async(TeamBudget.objects.create)(
        team=team, allowed_models={"owner": ["demo-fast"]}
    )
    stream = fake_stream(["x"])

    await send_action(alice_socket, "regenerate", message_id=str(reply.pk), model="demo-smart")
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert "Choose one of the models offered." in frame
    assert stream.calls == []


async def test_a_viewer_cannot(conversation, reply, victor_cookie, fake_stream):
    stream = fake_stream(["x"])
    socket, connected = await open_socket(conversation, victor_cookie)
    assert connected

    await send_action(socket, "regenerate", message_id=str(reply.pk), model="demo-smart")
    frame = await socket.receive_from(timeout=TIMEOUT)

    assert "You can read this conversation but not write in it." in frame
    assert stream.calls == []
    await socket.disconnect()


# The menu


def _menu_url(conversation, reply) -> str:
    return reverse("chat:regenerate_menu", args=[conversation.pk, reply.pk])


def test_the_menu_lists_the_models_the_member_may_use(client: Client, alice, conversation, reply):
    client.force_login(alice)

    html = client.get(_menu_url(conversation, reply)).content.decode()

    assert html.count('name="model"') == 2
    assert 'value="demo-fast"' in html and 'value="demo-smart"' in html
    assert "gizmo" not in html  # GPTs are picked in the conversation's settings
    assert 'aria-current="true"' in html and "this version" in html
    assert html.count("ws-send") == 2


def test_the_menu_leaves_out_what_the_budget_does_not_allow(
    client: Client, alice, team, conversation, reply
):
    TeamBudget.objects.create(team=team, allowed_models={"owner": ["demo-smart"]})
    client.force_login(alice)

    html = client.get(_menu_url(conversation, reply)).content.decode()

    assert 'value="demo-smart"' in html and 'value="demo-fast"' not in html


def test_a_viewer_gets_no_menu(client: Client, victor, conversation, reply):
    client.force_login(victor)

    assert client.get(_menu_url(conversation, reply)).status_code in (403, 404)


def test_the_thread_offers_the_menu_beside_regenerate_to_writers_only(
    client: Client, alice, victor, conversation, reply
):
    client.force_login(alice)
    page = client.get(conversation.get_absolute_url()).content.decode()
    assert 'class="icon-action regen-model-btn"' in page
    assert f'aria-controls="message-{reply.pk}-models"' in page
    assert page.index('data-icon="regenerate"') < page.index("regen-model-btn")

    client.force_login(victor)
    assert "regen-model-btn" not in client.get(conversation.get_absolute_url()).content.decode()


async def test_a_completion_is_run_again_with_its_own_options_only(
    alice_socket, conversation, fake_stream
):
    params = {"mode": "complete", "model": "gpt-3.5-turbo-instruct", "max_tokens": 16}
    prompt = await database_sync_to_async(make_message)(conversation, content="Once", params=params)
    completion = await database_sync_to_async(make_message)(
        conversation, role="assistant", content=" upon", parent=prompt, params=params
    )
    stream = fake_stream(["x"])

    await send_action(alice_socket, "regenerate", message_id=str(completion.pk), model="demo-smart")
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert "Choose one of the models offered." in frame
    assert stream.calls == []
