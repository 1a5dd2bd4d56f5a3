import pytest
from django.urls import reverse

from chat.models import Message
from tests.factories import make_conversation, make_message


@pytest.fixture
def admin_client(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(alice)
    return client


@pytest.fixture
def conversation(team, alice):
    conversation = make_conversation(team, alice, title="Reviewed chat")
    question = make_message(conversation, content="Hi")
    make_message(
        conversation,
        role=Message.Role.ASSISTANT,
        content="Hello",
        parent=question,
        model="gpt-4o",
        prompt_tokens=11,
        completion_tokens=7,
    )
    return conversation


@pytest.mark.parametrize("name", ["chat_conversation", "chat_message"])
def test_the_changelists_work(admin_client, conversation, name):
    response = admin_client.get(reverse(f"admin:{name}_changelist") + "?q=h")
    assert response.status_code == 200


def test_the_conversation_list_counts_messages(admin_client, conversation, team, alice):
    make_conversation(team, alice, title="Empty one")
    response = admin_client.get(reverse("admin:chat_conversation_changelist"))
    content = response.content.decode()
    assert '<td class="field-message_count">2</td>' in content
    assert '<td class="field-message_count">0</td>' in content


def test_the_conversation_list_filters_by_sharing(admin_client, conversation, team, alice):
    make_conversation(team, alice, title="Shared one", is_shared=True)
    url = reverse("admin:chat_conversation_changelist")
    response = admin_client.get(url, {"is_shared__exact": "1"})
    assert [c.title for c in response.context["cl"].result_list] == ["Shared one"]


def test_the_conversation_page_shows_messages_read_only(admin_client, conversation):
    response = admin_client.get(reverse("admin:chat_conversation_change", args=[conversation.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "gpt-4o" in content
    assert 'name="messages-0-role"' not in content
    assert 'name="messages-0-DELETE"' not in content


def test_messages_are_read_only(admin_client, conversation):
    message = conversation.messages.last()
    url = reverse("admin:chat_message_change", args=[message.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert 'name="content"' not in response.content.decode()
    assert admin_client.post(url, {"content": "Edited"}).status_code == 403
    message.refresh_from_db()
    assert message.content == "Hello"


def test_the_message_list_filters_by_model(admin_client, conversation):
    url = reverse("admin:chat_message_changelist")
    response = admin_client.get(url, {"model__exact": "gpt-4o"})
    assert [m.content for m in response.context["cl"].result_list] == ["Hello"]
