"""Contract: each finished assistant message has a button named "Read aloud" that knows where
to ask for its parts; user messages and replies still being written have none."""

from __future__ import annotations

import re

from django.urls import reverse

from chat.models import Message
from tests.factories import make_conversation, make_message


def test_each_assistant_message_has_a_read_aloud_button(alice_client, alice, team):
    conversation = make_conversation(team, alice)
    question = make_message(conversation, content="Hi", author=alice)
    reply = make_message(
        conversation, role=Message.Role.ASSISTANT, content="Hello!", parent=question
    )
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    buttons = re.findall(r'<button[^>]*class="icon-action speak-btn"[^>]*>([^<]*)</button>', page)
    assert buttons == ["Read aloud"]
    url = reverse("chat:speech_plan", args=[conversation.pk, reply.pk])
    assert f'data-speech-url="{url}"' in page
    assert 'src="/static/js/speak.js"' in page


def test_a_reply_being_written_has_no_button_yet(alice_client, alice, team):
    conversation = make_conversation(team, alice)
    make_message(
        conversation, role=Message.Role.ASSISTANT, content="Hal", status=Message.Status.STREAMING
    )
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert "speak-btn" not in page
