import pytest
from django.urls import reverse

from chat.models import Message
from tests.factories import make_conversation, make_message

HTMX = {"HX-Request": "true"}


@pytest.fixture
def tree(team, alice):
    """A question answered twice; the first answer has a follow-up below it."""
    conversation = make_conversation(team, alice)
    question = make_message(conversation, content="Question")
    first = make_message(
        conversation, role=Message.Role.ASSISTANT, content="First", parent=question
    )
    followup = make_message(conversation, content="Follow-up", parent=first)
    second = make_message(
        conversation, role=Message.Role.ASSISTANT, content="Second", parent=question
    )
    return conversation, first, followup, second


def _post(client, conversation, message_id, **kwargs):
    url = reverse("chat:switch_version", args=[conversation.pk])
    return client.post(url, {"message_id": message_id}, **kwargs)


def test_it_works(alice_client, tree):
    conversation, first, followup, second = tree
    assert conversation.current_leaf == second
    response = _post(alice_client, conversation, first.pk, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.startswith('<div id="thread"')
    assert "Follow-up" in content
    assert "Second" not in content
    conversation.refresh_from_db()
    assert conversation.current_leaf == followup


def test_it_redirects_without_htmx(alice_client, tree):
    conversation, first, _followup, _second = tree
    response = _post(alice_client, conversation, first.pk)
    assert response.status_code == 302
    assert response.url == conversation.get_absolute_url()


def test_it_rejects_messages_of_other_conversations(alice_client, tree, team, alice):
    conversation, _first, _followup, second = tree
    stranger = make_message(make_conversation(team, alice), content="Elsewhere")
    assert _post(alice_client, conversation, stranger.pk).status_code == 404
    assert _post(alice_client, conversation, "nope").status_code == 404
    conversation.refresh_from_db()
    assert conversation.current_leaf == second


def test_it_checks_membership(charlie_client, tree):
    conversation, first, _followup, _second = tree
    assert _post(charlie_client, conversation, first.pk).status_code == 404


def test_it_hides_private_conversations_from_teammates(bob_client, tree):
    conversation, first, _followup, _second = tree
    assert _post(bob_client, conversation, first.pk).status_code == 404


@pytest.mark.parametrize("persona", ["bob_client", "victor_client"])
def test_it_is_for_the_creator_with_write_role(request, persona, tree):
    conversation, first, _followup, second = tree
    conversation.is_shared = True
    conversation.save()
    client = request.getfixturevalue(persona)
    assert _post(client, conversation, first.pk).status_code == 403
    conversation.refresh_from_db()
    assert conversation.current_leaf == second


def test_it_requires_write_role(victor_client, tree):
    conversation, first, _followup, _second = tree
    conversation.is_shared = True
    conversation.save()
    assert _post(victor_client, conversation, first.pk).status_code == 403
