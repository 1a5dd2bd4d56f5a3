from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import frames, services
from chat.models import Message
from gateway.types import Usage
from tests.factories import make_conversation, make_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, title="", system_prompt="Be brief.")


def _send(conversation, user, text="Hello there", **kwargs):
    return services.begin_reply(
        conversation_id=conversation.pk, user=user, action="send", text=text, **kwargs
    )


def test_send_saves_the_user_message_and_a_streaming_placeholder(conversation, alice):
    start = _send(conversation, alice, "What is 2 + 2?\nSecond line")

    user_message = Message.objects.get(pk=start.thread[-2].message.pk)
    assistant = Message.objects.get(pk=start.assistant_id)
    assert user_message.content == "What is 2 + 2?\nSecond line"
    assert user_message.author == alice
    assert assistant.parent == user_message
    assert assistant.status == Message.Status.STREAMING
    assert assistant.model == "gpt-4o-mini"
    conversation.refresh_from_db()
    assert conversation.current_leaf_id == assistant.pk
    assert conversation.title == start.new_title == "What is 2 + 2?"


def test_send_builds_the_context_with_the_system_prompt_first(conversation, alice):
    question = make_message(conversation, content="First question")
    make_message(conversation, role=Message.Role.ASSISTANT, content="First answer", parent=question)

    start = _send(conversation, alice, "Follow-up")

    assert start.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Follow-up"},
    ]


def test_send_leaves_failed_empty_replies_out_of_the_context(conversation, alice):
    question = make_message(conversation, content="Question")
    make_message(
        conversation,
        role=Message.Role.ASSISTANT,
        content="",
        status=Message.Status.FAILED,
        error="The gateway is unavailable.",
        parent=question,
    )

    start = _send(conversation, alice, "Again")

    assert [m["content"] for m in start.messages] == ["Be brief.", "Question", "Again"]


def test_send_keeps_an_existing_title(team, alice):
    conversation = make_conversation(team, alice, title="Named")

    start = _send(conversation, alice)

    conversation.refresh_from_db()
    assert conversation.title == "Named"
    assert start.new_title is None


def test_long_first_lines_make_a_short_title(conversation, alice):
    start = _send(conversation, alice, "word " * 40)

    assert start.new_title is not None
    assert len(start.new_title) <= services.TITLE_CHARS


def _first_frame(action, start):
    return frames.first_frame(action, start.conversation, start.thread, new_title=start.new_title)


def test_send_renders_the_two_new_messages_for_the_thread(conversation, alice):
    start = _send(conversation, alice, "Hi <b>there</b>")
    frame = _first_frame("send", start)

    assert frame.startswith('<div id="thread" hx-swap-oob="beforeend">')
    assert f'id="message-{start.thread[-2].message.pk}"' in frame
    assert f'id="message-{start.assistant_id}-text"' in frame
    assert "Hi &lt;b&gt;there&lt;/b&gt;" in frame


@pytest.mark.parametrize("text", ["", "   \n ", None])
def test_empty_messages_are_refused_and_nothing_is_saved(conversation, alice, text):
    with pytest.raises(ValidationError):
        _send(conversation, alice, text)

    assert not Message.objects.exists()


def test_over_long_messages_are_refused_and_nothing_is_saved(conversation, alice, settings):
    settings.MESSAGE_MAX_CHARS = 10

    with pytest.raises(ValidationError) as exc:
        _send(conversation, alice, "x" * 11)

    assert "11" in exc.value.messages[0]
    assert not Message.objects.exists()


def test_it_requires_write_role(team, alice, victor):
    conversation = make_conversation(team, victor)

    with pytest.raises(PermissionDenied):
        _send(conversation, victor)

    assert not Message.objects.exists()


def test_it_requires_the_creator(conversation, bob):
    conversation.is_shared = True
    conversation.save()

    with pytest.raises(PermissionDenied):
        _send(conversation, bob)


def test_it_checks_membership(conversation, bob, charlie, other_team):
    with pytest.raises(Http404):
        _send(conversation, bob)  # private to alice
    with pytest.raises(Http404):
        _send(conversation, charlie)


def test_edit_adds_a_sibling_and_keeps_the_old_version(conversation, alice):
    old = make_message(conversation, content="Old question")
    old_answer = make_message(conversation, role="assistant", content="Old answer", parent=old)

    start = services.begin_reply(
        conversation_id=conversation.pk,
        user=alice,
        action="edit",
        text="New question",
        message_id=old.pk,
    )

    new = Message.objects.get(pk=start.thread[-2].message.pk)
    assert new.parent_id is None and new.content == "New question"
    assert Message.objects.filter(pk__in=[old.pk, old_answer.pk]).count() == 2
    assert start.messages[-1] == {"role": "user", "content": "New question"}
    assert "Old question" not in [m["content"] for m in start.messages]
    frame = _first_frame("edit", start)
    assert 'hx-swap-oob="outerHTML"' in frame
    assert "1 / 2" not in frame and "2 / 2" in frame


@pytest.mark.parametrize("action", ["regenerate", "retry"])
def test_regenerate_and_retry_add_an_assistant_sibling(conversation, alice, action):
    question = make_message(conversation, content="Question")
    old = make_message(conversation, role="assistant", content="Old answer", parent=question)

    start = services.begin_reply(
        conversation_id=conversation.pk, user=alice, action=action, message_id=old.pk
    )

    assert Message.objects.filter(role=Message.Role.USER).count() == 1  # no new user message
    assert start.assistant.parent_id == question.pk
    assert start.assistant_item.sibling_ids == [old.pk, start.assistant_id]
    assert start.messages[-1] == {"role": "user", "content": "Question"}
    assert Message.objects.filter(pk=old.pk, content="Old answer").exists()


def test_regenerate_refuses_a_user_message(conversation, alice):
    question = make_message(conversation, content="Question")

    with pytest.raises(Http404):
        services.begin_reply(
            conversation_id=conversation.pk, user=alice, action="regenerate", message_id=question.pk
        )


def test_edit_refuses_messages_of_other_conversations(conversation, team, alice):
    elsewhere = make_message(make_conversation(team, alice), content="Elsewhere")

    with pytest.raises(Http404):
        services.begin_reply(
            conversation_id=conversation.pk,
            user=alice,
            action="edit",
            text="x",
            message_id=elsewhere.pk,
        )


def test_finish_reply_stores_text_html_and_tokens(conversation, alice):
    start = _send(conversation, alice)

    item = services.finish_reply(
        message_id=start.assistant_id,
        content="Some **bold** text",
        reasoning="thinking",
        html=frames.stored_html("Some **bold** text", "thinking"),
        status=Message.Status.COMPLETE,
        finish_reason="stop",
        usage=Usage(prompt_tokens=7, completion_tokens=3, total_tokens=10),
    )

    message = Message.objects.get(pk=start.assistant_id)
    assert message.status == Message.Status.COMPLETE
    assert "<strong>bold</strong>" in message.html
    assert (message.prompt_tokens, message.completion_tokens) == (7, 3)
    assert message.finish_reason == "stop"
    assert message.reasoning == "thinking"
    assert message.html.startswith('<details class="reasoning">')
    assert message.html.index("thinking") < message.html.index("<strong>bold</strong>")
    assert item.message == message and item.sibling_ids == [message.pk]


def test_the_stored_html_is_sanitised():
    html = frames.stored_html('<script>alert(1)</script><img src=x onerror="alert(2)">')

    assert "<script" not in html and "<img" not in html


def test_checkpoint_only_touches_streaming_replies(conversation, alice):
    start = _send(conversation, alice)

    services.checkpoint_reply(message_id=start.assistant_id, content="so far")
    assert Message.objects.get(pk=start.assistant_id).content == "so far"

    services.finish_reply(
        message_id=start.assistant_id, content="final", html="", status=Message.Status.COMPLETE
    )
    assert services.checkpoint_reply(message_id=start.assistant_id, content="late") == 0
    assert Message.objects.get(pk=start.assistant_id).content == "final"


def test_a_reply_being_written_elsewhere_blocks_a_second_one(conversation, alice):
    # Scale mode: another process is writing a reply in this conversation.
    _send(conversation, alice, text="First")

    with pytest.raises(ValidationError) as refused:
        _send(conversation, alice, text="Second")

    assert refused.value.code == "busy"
    assert not Message.objects.filter(content="Second").exists()


def test_a_reply_abandoned_by_a_dead_process_does_not_block(conversation, alice, settings):
    start = _send(conversation, alice, text="First")
    window = services.live_reply_window()
    Message.objects.filter(pk=start.assistant_id).update(
        updated_at=timezone.now() - window - timedelta(seconds=1)
    )

    assert _send(conversation, alice, text="Second").assistant_id != start.assistant_id


def _begin_queries(conversation, user, text="Hello there") -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        _send(conversation, user, text=text)
    return [q["sql"] for q in captured.captured_queries]


def test_the_queries_before_a_reply_do_not_grow_with_the_conversation(conversation, alice):
    # The month's first charge also makes the month's budget counters: not what this compares.
    _begin_queries(make_conversation(conversation.team, alice, title="Warm-up"), alice)
    make_message(conversation, role=Message.Role.USER, content="turn 0")  # attachments are read
    short = _begin_queries(conversation, alice)
    long = make_conversation(conversation.team, alice, title="Long")
    parent = None
    for i in range(40):
        role = Message.Role.USER if i % 2 == 0 else Message.Role.ASSISTANT
        parent = make_message(long, role=role, content=f"turn {i}", parent=parent)

    assert len(_begin_queries(long, alice)) == len(short)


def test_the_conversation_lock_is_taken_only_where_rows_can_be_locked(conversation, alice):
    # SQLite's IMMEDIATE transaction already serialises writers: a SELECT there would lock
    # nothing and only cost a round trip on the one database thread every reply start shares.
    probes = [
        sql
        for sql in _begin_queries(conversation, alice)
        if sql.startswith('SELECT 1 AS "a" FROM "chat_conversation"')
    ]

    if connection.features.has_select_for_update:
        assert len(probes) == 1 and "FOR UPDATE" in probes[0]
    else:
        assert probes == []


def test_a_message_with_nul_is_stored_with_the_replacement_character():
    from chat.services import clean_text

    assert clean_text("  hi\x00there ") == "hi\ufffdthere"
