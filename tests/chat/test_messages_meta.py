"""Messages of a team: authors named on user messages (loaded without N+1 and safe in async
rendering), copies titled as copies, the action row with Details and edit in place, and the
reply's timings stored from the generation's clock."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from django.utils import translation

from chat import frames, services, streaming
from chat.models import Conversation, Message
from chat.streaming import Subscriber, registry
from chat.threads import build_thread
from tests.factories import make_conversation, make_message
from tests.sockets import finished

ASSISTANT = Message.Role.ASSISTANT


@pytest.fixture
def shared(team, alice, bob):
    """alice's shared conversation where alice and bob each asked once (as after a fork)."""
    conversation = make_conversation(team, alice, title="Plans", is_shared=True)
    first = make_message(conversation, content="Alice asks", author=alice)
    answer = make_message(
        conversation,
        role=ASSISTANT,
        content="An answer",
        parent=first,
        model="demo-fast",
        prompt_tokens=12,
        completion_tokens=34,
        ttft_ms=250,
        duration_ms=1500,
    )
    make_message(conversation, content="Bob asks", parent=answer, author=bob)
    return conversation


def test_a_teammate_sees_the_author_of_each_user_message(bob_client, alice, shared):
    alice.display_name = "Alice Liddell"
    alice.save(update_fields=["display_name"])

    content = bob_client.get(shared.get_absolute_url()).content.decode()

    shown = '<span class="message-role is-shown"><span class="message-author">'
    assert shown + "Alice Liddell (alice)</span>" in content
    assert shown + "bob</span>" in content


def test_in_a_private_conversation_the_name_is_for_screen_readers_only(alice_client, team, alice):
    conversation = make_conversation(team, alice, title="Mine")
    make_message(conversation, content="Just me", author=alice)
    content = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert '<span class="message-role"><span class="message-author">alice</span>' in content


def test_the_thread_loads_its_authors_in_its_one_query(
    shared, django_assert_num_queries, alice, bob
):
    for user in (alice, bob):
        make_message(shared, content="more", parent=shared.current_leaf, author=user)
    shared.refresh_from_db()
    with django_assert_num_queries(1):  # attachments only in one more when some message has any
        names = [item.author_name for item in build_thread(shared)]
    assert names == ["alice", "", "bob", "alice", "bob"]


def test_an_author_not_loaded_is_never_fetched(shared, django_assert_num_queries):
    """The partial is rendered from async code: a lazy load there would raise."""
    message = Message.objects.get(content="Alice asks")  # no select_related
    item = build_thread(shared)[0]
    item.message = message
    with django_assert_num_queries(0):
        assert item.author_name == ""


@pytest.mark.django_db(transaction=True)
async def test_frames_rendered_in_async_code_name_the_authors(shared, alice):
    """An edit re-renders the whole thread from the consumer: begin_reply loads the authors."""
    bobs = await Message.objects.aget(content="Bob asks")
    start = await sync_to_async(services.begin_reply)(
        conversation_id=shared.pk, user=alice, action="edit", text="Alice edits", message_id=bobs.pk
    )
    frame = frames.first_frame("edit", start.conversation, start.thread)  # no database here
    assert frame.count('<span class="message-author">alice</span>') == 2
    thread = await sync_to_async(services.load_thread)(conversation=shared)
    assert '<span class="message-author">alice</span>' in frames.thread_frame(
        shared, thread, can_write=True
    )


def test_a_finished_reply_has_its_action_row_and_details(alice_client, shared):
    content = alice_client.get(shared.get_absolute_url()).content.decode()
    answer = Message.objects.get(role=ASSISTANT)

    details = f'id="message-{answer.pk}-details" hidden'
    assert details in content
    assert f'aria-controls="message-{answer.pk}-details">Details</button>' in content
    panel = content[content.index(details) : content.index("</dl>", content.index(details))]
    for expected in ("demo-fast", "<dd>12</dd>", "<dd>34</dd>", "250 ms", "1500 ms"):
        assert expected in panel
    assert 'data-icon="regenerate" title="Regenerate">Regenerate</button>' in content
    assert 'data-icon="copy"' in content


def test_a_user_message_is_edited_in_place(alice_client, shared):
    content = alice_client.get(shared.get_absolute_url()).content.decode()
    bobs = Message.objects.get(content="Bob asks")

    form = content[content.index(f'id="message-{bobs.pk}-edit"') :]
    form = form[: form.index("</form>")]
    assert "ws-send hidden" in form  # inside the bubble, shown by the Edit button
    assert 'name="action" value="edit"' in form
    assert f'name="message_id" value="{bobs.pk}"' in form
    assert ">Bob asks</textarea>" in form
    assert ">Cancel</button>" in form and ">Save</button>" in form
    assert f'aria-controls="message-{bobs.pk}-edit">Edit</button>' in content
    assert "<details" not in content[content.index(f'id="message-{bobs.pk}"') :]


def test_readers_get_no_edit_form(bob_client, shared):
    content = bob_client.get(shared.get_absolute_url()).content.decode()
    assert "edit-form" not in content and "edit-btn" not in content
    assert "Details</button>" in content


def test_a_copy_is_titled_as_a_copy(bob_client, shared):
    bob_client.post(reverse("chat:fork", args=[shared.pk]))
    assert Conversation.objects.get(forked_from=shared).title == "Copy of Plans"


def test_a_copy_title_is_translated_and_fits(team, alice, bob):
    conversation = make_conversation(team, alice, title="x" * 200, is_shared=True)
    with translation.override("zh-hans"):
        fork = services.fork_conversation(conversation=conversation, user=bob)
    assert fork.title.startswith("副本")
    assert len(fork.title) == 200 and fork.title.endswith("...")  # Django's zh-Hans ellipsis


def test_a_copy_keeps_the_timings(team, alice, bob, shared):
    fork = services.fork_conversation(conversation=shared, user=bob)
    copied = fork.messages.get(role=ASSISTANT)
    assert (copied.ttft_ms, copied.duration_ms) == (250, 1500)


def test_finish_reply_stores_the_timings(shared):
    answer = Message.objects.get(role=ASSISTANT)
    item = services.finish_reply(
        message_id=answer.pk,
        content="Done",
        html="<p>Done</p>",
        status=Message.Status.COMPLETE,
        ttft_ms=40,
        duration_ms=900,
    )
    answer.refresh_from_db()
    assert (
        (answer.ttft_ms, answer.duration_ms)
        == (40, 900)
        == (
            item.message.ttft_ms,
            item.message.duration_ms,
        )
    )


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class Socket:
    async def send(self, frame: str) -> None:
        pass


@pytest.mark.django_db(transaction=True)
async def test_the_store_step_times_the_reply_from_the_generations_clock(team, alice, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(streaming, "_clock", clock)
    conversation = await sync_to_async(make_conversation)(team, alice)
    start = await sync_to_async(services.begin_reply)(
        conversation_id=conversation.pk, user=alice, action="send", text="Hi"
    )

    async def timed(**kwargs):
        clock.now += 0.3  # waiting for the first token
        yield streaming.ChatDelta(content="Hel")
        await asyncio.sleep(0)
        clock.now += 1.2
        yield streaming.ChatDelta(content="lo")
        clock.now += 0.5
        yield streaming.ChatEnd("stop", None)

    monkeypatch.setattr("gateway.chat.stream_chat", timed)
    generation = registry.start(
        start, layer=None, subscriber=Subscriber(send=Socket().send, can_write=True)
    )
    await finished(generation)

    reply = await Message.objects.aget(pk=start.assistant_id)
    assert (reply.content, reply.ttft_ms, reply.duration_ms) == ("Hello", 300, 2000)
