import pytest
from django.urls import reverse

from chat import services
from chat.models import Conversation, Message
from tests.factories import make_conversation, make_message


@pytest.fixture
def conversation(team, alice):
    conversation = make_conversation(team, alice, title="Doomed")
    question = make_message(conversation, content="Hi")
    make_message(conversation, role=Message.Role.ASSISTANT, content="Hello", parent=question)
    return conversation


def _url(conversation):
    return reverse("chat:delete", args=[conversation.pk])


def test_it_asks_for_confirmation(alice_client, conversation):
    response = alice_client.get(_url(conversation))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Delete this conversation?" in content
    assert f'<form method="post" action="{_url(conversation)}">' in content
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_it_works(alice_client, conversation):
    response = alice_client.post(_url(conversation))
    assert response.status_code == 302
    assert response.url == reverse("chat:home")
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.exists()


def test_it_leaves_forks_in_place(alice_client, bob, conversation):
    fork = services.fork_conversation(conversation=conversation, user=bob)
    alice_client.post(_url(conversation))
    fork.refresh_from_db()
    assert fork.forked_from is None
    assert fork.messages.count() == 2


def test_it_checks_membership(charlie_client, conversation):
    assert charlie_client.get(_url(conversation)).status_code == 404
    assert charlie_client.post(_url(conversation)).status_code == 404


def test_it_hides_private_conversations_from_teammates(bob_client, conversation):
    assert bob_client.get(_url(conversation)).status_code == 404
    assert bob_client.post(_url(conversation)).status_code == 404


@pytest.mark.parametrize("persona", ["bob_client", "victor_client"])
def test_it_is_for_the_creator_with_write_role(request, persona, conversation):
    conversation.is_shared = True
    conversation.save()
    client = request.getfixturevalue(persona)
    assert client.get(_url(conversation)).status_code == 403
    assert client.post(_url(conversation)).status_code == 403
    assert Conversation.objects.filter(pk=conversation.pk).exists()


def test_it_requires_write_role(client, team, victor):
    conversation = make_conversation(team, victor)  # made before victor became a viewer
    client.force_login(victor)
    assert client.post(_url(conversation)).status_code == 403
