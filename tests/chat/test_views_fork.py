import pytest
from django.urls import reverse

from chat.models import Conversation, Message
from tests.factories import make_conversation, make_message


@pytest.fixture
def shared(team, alice):
    conversation = make_conversation(
        team,
        alice,
        title="Design review",
        model="gpt-4o",
        system_prompt="Be terse.",
        temperature=0.3,
        is_shared=True,
    )
    question = make_message(conversation, content="First draft?", author=alice)
    make_message(conversation, role=Message.Role.ASSISTANT, content="Old answer", parent=question)
    answer = make_message(
        conversation,
        role=Message.Role.ASSISTANT,
        content="Chosen answer",
        parent=question,
        html="<p>Chosen answer</p>",
        prompt_tokens=12,
        completion_tokens=3,
    )
    followup = make_message(conversation, content="And then?", parent=answer)
    make_message(conversation, role=Message.Role.ASSISTANT, content="Newest", parent=followup)
    conversation.current_leaf = answer  # the thread shown stops at the chosen answer
    conversation.save()
    return conversation


def _url(conversation):
    return reverse("chat:fork", args=[conversation.pk])


def test_it_works(bob_client, bob, shared):
    response = bob_client.post(_url(shared))
    fork = Conversation.objects.get(forked_from=shared)
    assert response.status_code == 302
    assert response.url == fork.get_absolute_url()
    assert (fork.created_by, fork.team, fork.is_shared) == (bob, shared.team, False)
    assert (fork.title, fork.model, fork.system_prompt, fork.temperature) == (
        "Copy of Design review",  # not two identical entries in the sidebar
        "gpt-4o",
        "Be terse.",
        0.3,
    )
    question, answer = fork.messages.order_by("created_at", "id")
    assert (question.content, question.parent, question.role) == ("First draft?", None, "user")
    assert (answer.content, answer.parent, answer.html) == (
        "Chosen answer",
        question,
        "<p>Chosen answer</p>",
    )
    assert (answer.prompt_tokens, answer.completion_tokens) == (12, 3)
    assert fork.current_leaf == answer
    assert shared.messages.count() == 5


def test_the_copy_is_private_to_the_forker(bob_client, alice_client, shared):
    bob_client.post(_url(shared))
    fork = Conversation.objects.get(forked_from=shared)
    assert alice_client.get(fork.get_absolute_url()).status_code == 404
    assert bob_client.get(fork.get_absolute_url()).context["can_write"] is True


def test_a_copied_reply_still_streaming_is_marked_interrupted(bob_client, shared):
    make_message(
        shared,
        role=Message.Role.ASSISTANT,
        content="Half a",
        status=Message.Status.STREAMING,
        parent=shared.current_leaf,
    )
    bob_client.post(_url(shared))
    fork = Conversation.objects.get(forked_from=shared)
    assert fork.current_leaf.status == Message.Status.INTERRUPTED
    assert fork.current_leaf.content == "Half a"


def test_it_forks_an_empty_conversation(bob_client, team, alice):
    empty = make_conversation(team, alice, is_shared=True)
    bob_client.post(_url(empty))
    fork = Conversation.objects.get(forked_from=empty)
    assert fork.current_leaf is None
    assert not fork.messages.exists()


def test_it_requires_post(bob_client, shared):
    assert bob_client.get(_url(shared)).status_code == 405


def test_it_checks_membership(charlie_client, shared):
    assert charlie_client.post(_url(shared)).status_code == 404
    assert not Conversation.objects.filter(forked_from=shared).exists()


def test_it_hides_private_conversations_from_teammates(bob_client, shared):
    shared.is_shared = False
    shared.save()
    assert bob_client.post(_url(shared)).status_code == 404


def test_it_requires_write_role(victor_client, shared):
    assert victor_client.post(_url(shared)).status_code == 403
    assert not Conversation.objects.filter(forked_from=shared).exists()
