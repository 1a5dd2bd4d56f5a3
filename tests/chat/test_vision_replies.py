"""Images in replies, end to end: the websocket, chat.services, the real gateway client and the
demo gateway, whose recorded requests show exactly what went upstream."""

from __future__ import annotations

import base64
import importlib
import io

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from PIL import Image

from chat import attachments
from chat.models import Attachment, Conversation, Message, VisionModel
from gateway import catalogue
from tests.chat.images import picture, upload
from tests.factories import make_message
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    get_message,
    is_final,
    receive_until,
    send_action,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def vision_defaults(django_db_blocker):
    """The default vision list (the data migration's), which a transactional test's flush
    removes."""
    defaults = importlib.import_module("chat.migrations.0009_vision_model_defaults")
    with django_db_blocker.unblock():
        VisionModel.objects.all().delete()
        VisionModel.objects.bulk_create(
            [VisionModel(pattern=p, sees=True) for p in defaults.SEES]
            + [VisionModel(pattern=p, sees=False) for p in defaults.BLIND]
        )


@pytest.fixture
def listed(demo_gateway):
    """The gateway's models, listed now (the choice offers the first one that can see)."""
    catalogue.refresh_chat_models()
    return demo_gateway


@database_sync_to_async
def _attach(conversation, user, *sizes, colour=(200, 30, 30)) -> list[int]:
    files = [upload(picture("PNG", size, colour), f"pic{i}.png") for i, size in enumerate(sizes)]
    assert attachments.attach_images(conversation=conversation, user=user, files=files) == []
    pending = attachments.pending_images(conversation=conversation, user=user)
    return list(pending.values_list("pk", flat=True))


@database_sync_to_async
def _set_model(conversation, model: str) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(model=model)


async def _reply(socket, **fields) -> tuple[int, list[str]]:
    await send_action(socket, "send", **fields)
    first = await socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    return message_id, [first, *await receive_until(socket, is_final(message_id))]


def _chat_requests(gateway):
    return [r for r in gateway.requests if r.path == "/v1/chat/completions"]


def _image_parts(request) -> list[tuple[str, str]]:
    """(role, url) of every image part the request carried."""
    found = []
    for message in request.json["messages"]:
        content = message["content"]
        if isinstance(content, list):
            found += [(message["role"], p["image_url"]["url"]) for p in content
                      if p.get("type") == "image_url"]  # fmt: skip
    return found


async def test_images_go_to_a_model_that_sees_and_it_describes_them(
    alice_socket, conversation, alice, listed
):
    ids = await _attach(conversation, alice, (300, 200), (50, 60))

    message_id, frames = await _reply(alice_socket, text="What is this?", attachments=ids)

    (request,) = _chat_requests(listed)
    last = request.json["messages"][-1]
    assert last["role"] == "user"
    assert last["content"][0] == {"type": "text", "text": "What is this?"}
    urls = [url for _role, url in _image_parts(request)]
    assert len(urls) == 2 and all(u.startswith("data:image/jpeg;base64,") for u in urls)
    sent = Image.open(io.BytesIO(base64.b64decode(urls[0].partition(",")[2])))
    assert sent.size == (300, 200)
    reply = await get_message(message_id)
    assert reply.status == Message.Status.COMPLETE
    assert "I can see 2 images." in reply.content
    assert "300x200 pixels, mostly red" in reply.content
    user_message = await database_sync_to_async(
        lambda: Message.objects.get(role="user", conversation=conversation)
    )()
    linked = await database_sync_to_async(
        lambda: list(Attachment.objects.filter(message=user_message).order_by("position"))
    )()
    assert [a.pk for a in linked] == ids
    assert 'class="message-images"' in frames[0]  # the thumbnails in the user's message


async def test_a_model_that_cannot_see_never_gets_the_images_of_the_history(
    alice_socket, conversation, alice, listed
):
    ids = await _attach(conversation, alice, (40, 40))
    await _reply(alice_socket, text="Look at this", attachments=ids)
    await _set_model(conversation, "demo-fast")

    message_id, _frames = await _reply(alice_socket, text="And now?")

    request = _chat_requests(listed)[-1]
    assert request.json["model"] == "demo-fast"
    assert _image_parts(request) == []
    assert request.json["messages"][0] == {"role": "user", "content": "Look at this"}
    assert (await get_message(message_id)).status == Message.Status.COMPLETE


async def test_assistant_turns_never_carry_image_parts(alice_socket, conversation, alice, listed):
    await database_sync_to_async(_history_with_an_image_in_a_reply)(conversation, alice)

    await _reply(alice_socket, text="Thanks")

    request = _chat_requests(listed)[-1]
    assistant = [m for m in request.json["messages"] if m["role"] == "assistant"]
    assert assistant == [{"role": "assistant", "content": "Here is a picture."}]
    assert [role for role, _url in _image_parts(request)] == ["user"]


def _history_with_an_image_in_a_reply(conversation, alice) -> None:
    question = make_message(conversation, content="Draw and look", author=alice)
    _attach_sync(conversation, alice, question)
    answer = make_message(
        conversation, role=Message.Role.ASSISTANT, content="Here is a picture.", parent=question
    )
    _attach_sync(conversation, alice, answer)  # e.g. a copy of a picture the reply linked to


def _attach_sync(conversation, user, message) -> None:
    attachments.attach_images(conversation=conversation, user=user, files=[upload(picture())])
    pending = list(attachments.pending_images(conversation=conversation, user=user))
    attachments.link(pending, message)


async def test_images_for_a_model_that_cannot_see_offer_a_choice_and_save_nothing(
    alice_socket, conversation, alice, listed
):
    await _set_model(conversation, "demo-fast")
    ids = await _attach(conversation, alice, (40, 40))

    await send_action(alice_socket, "send", text="What is this?", attachments=ids)
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert 'id="vision-choice"' in frame and 'hx-swap-oob="outerHTML"' in frame
    assert "demo-fast cannot see images." in frame
    assert 'data-vision-choice="switch:gpt-4o-mini"' in frame
    assert "Switch to gpt-4o-mini" in frame and "Send the text alone" in frame
    assert _chat_requests(listed) == []
    assert not await database_sync_to_async(Message.objects.exists)()
    pending = await database_sync_to_async(
        lambda: list(Attachment.objects.filter(message__isnull=True).values_list("pk", flat=True))
    )()
    assert pending == ids  # still attached, waiting for the choice


async def test_send_the_text_alone_drops_the_images(alice_socket, conversation, alice, listed):
    await _set_model(conversation, "demo-fast")
    ids = await _attach(conversation, alice, (40, 40))

    message_id, _frames = await _reply(
        alice_socket, text="What is this?", attachments=ids, vision="text"
    )

    (request,) = _chat_requests(listed)
    assert request.json["model"] == "demo-fast"
    assert request.json["messages"] == [{"role": "user", "content": "What is this?"}]
    assert (await get_message(message_id)).status == Message.Status.COMPLETE
    assert not await database_sync_to_async(Attachment.objects.exists)()


async def test_switching_to_the_vision_model_sends_the_images_there(
    alice_socket, conversation, alice, listed
):
    await _set_model(conversation, "demo-fast")
    ids = await _attach(conversation, alice, (40, 40))

    message_id, _frames = await _reply(
        alice_socket, text="What is this?", attachments=ids, vision="switch:gpt-4o-mini"
    )

    (request,) = _chat_requests(listed)
    assert request.json["model"] == "gpt-4o-mini"
    assert len(_image_parts(request)) == 1
    await database_sync_to_async(conversation.refresh_from_db)()
    assert conversation.model == "gpt-4o-mini"
    assert "I can see 1 image." in (await get_message(message_id)).content


async def test_a_switch_to_a_model_that_cannot_see_is_refused(
    alice_socket, conversation, alice, listed
):
    await _set_model(conversation, "demo-fast")
    ids = await _attach(conversation, alice, (40, 40))

    await send_action(
        alice_socket, "send", text="Hi", attachments=ids, vision="switch:demo-reasoner"
    )
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert "Choose one of the models offered." in frame
    assert f'name="attachments" value="{ids[0]}"' in frame  # the tray is kept with the text
    assert ">Hi</textarea>" in frame
    assert _chat_requests(listed) == []
    assert not await database_sync_to_async(Message.objects.exists)()


async def test_the_vision_list_is_the_admins(alice_socket, conversation, alice, listed):
    await database_sync_to_async(VisionModel.objects.create)(pattern="demo-fast", sees=True)
    await _set_model(conversation, "demo-fast")
    ids = await _attach(conversation, alice, (40, 40))

    await send_action(alice_socket, "send", text="Look", attachments=ids)
    frames = await receive_until(alice_socket, lambda f: 'id="live-region"' in f)

    # Parlor now sends the image; the demo gateway answers as a real one would.
    (request,) = _chat_requests(listed)
    assert len(_image_parts(request)) == 1
    assert "only supported by certain models" in "".join(frames)


async def test_images_someone_else_attached_are_not_taken(
    alice_socket, conversation, alice, bob, listed
):
    ids = await _attach(conversation, bob, (40, 40))  # not alice's

    await send_action(alice_socket, "send", text="Hi", attachments=ids)
    frame = await alice_socket.receive_from(timeout=TIMEOUT)

    assert "An attached image is no longer there." in frame
    assert not await database_sync_to_async(Message.objects.exists)()
    assert _chat_requests(listed) == []


async def test_an_edit_keeps_the_images_of_the_message_it_replaces(
    alice_socket, conversation, alice, listed
):
    ids = await _attach(conversation, alice, (40, 40))
    await _reply(alice_socket, text="First", attachments=ids)
    first = await database_sync_to_async(
        lambda: Message.objects.get(role="user", content="First")
    )()

    await send_action(alice_socket, "edit", text="Second", message_id=first.pk)
    frames = await receive_until(alice_socket, lambda f: "Reply finished." in f)

    request = _chat_requests(listed)[-1]
    assert request.json["messages"][-1]["content"][0] == {"type": "text", "text": "Second"}
    assert len(_image_parts(request)) == 1
    assert 'class="message-images"' in "".join(frames)
    counts = await database_sync_to_async(
        lambda: sorted(Message.objects.filter(role="user").values_list("attachments", flat=True))
    )()
    assert len(counts) == 2 and len(set(counts)) == 2  # a copy each, not one shared file


async def test_a_model_that_reads_links_gets_signed_links_in_the_text(
    alice_socket, conversation, alice, listed, settings, monkeypatch
):
    settings.PUBLIC_URL = "http://testserver"
    await database_sync_to_async(VisionModel.objects.create)(
        pattern="gpt-4o-mini", sees=True, url_in_text=True
    )
    ids = await _attach(conversation, alice, (70, 50))

    await _reply(alice_socket, text="Describe it", attachments=ids)

    request = _chat_requests(listed)[-1]
    assert _image_parts(request) == []
    content = request.json["messages"][-1]["content"]
    link, _space, text = content.partition(" ")
    assert text == "Describe it" and link.startswith("http://testserver/attachments/")
    path = link.removeprefix("http://testserver")

    anonymous = await database_sync_to_async(lambda: Client().get(path))()
    assert anonymous.status_code == 200 and anonymous["Content-Type"] == "image/jpeg"
    tampered = path.replace(path[-6:-1], "AAAAA")
    assert (await database_sync_to_async(lambda: Client().get(tampered))()).status_code == 404
    monkeypatch.setattr(attachments, "LINK_SECONDS", -1)  # expired
    assert (await database_sync_to_async(lambda: Client().get(path))()).status_code == 404


async def test_without_a_public_url_links_fall_back_to_image_parts(
    alice_socket, conversation, alice, listed, settings
):
    settings.PUBLIC_URL = ""
    await database_sync_to_async(VisionModel.objects.create)(
        pattern="gpt-4o-mini", sees=True, url_in_text=True
    )
    ids = await _attach(conversation, alice, (70, 50))

    await _reply(alice_socket, text="Describe it", attachments=ids)

    assert len(_image_parts(_chat_requests(listed)[-1])) == 1
