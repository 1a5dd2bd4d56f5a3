import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat.models import Message
from tests.factories import make_conversation, make_message


@pytest.fixture(autouse=True)
def gateway_models(monkeypatch):
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["claude-3-haiku", "gpt-4o"])


@pytest.fixture
def conversation(team, alice):
    conversation = make_conversation(team, alice, title="Launch plan", model="gpt-4o")
    question = make_message(conversation, content="When do we launch?")
    make_message(conversation, role=Message.Role.ASSISTANT, content="Tuesday.", parent=question)
    return conversation


def _url(conversation):
    return reverse("chat:conversation", args=[conversation.pk])


def test_it_works(alice_client, conversation):
    response = alice_client.get(_url(conversation))
    assert response.status_code == 200
    content = response.content.decode()
    assert '<h1 id="conversation-title">Launch plan</h1>' in content
    assert "When do we launch?" in content
    assert "Tuesday." in content
    assert f'ws-connect="/ws/chat/{conversation.pk}/"' in content
    assert 'id="composer"' in content
    assert "Share with team</button>" in content
    assert response.context["can_write"] is True
    assert response.context["is_creator"] is True
    assert [item.message.content for item in response.context["thread"]] == [
        "When do we launch?",
        "Tuesday.",
    ]


def test_it_shows_the_stop_button_while_a_reply_streams(alice_client, conversation):
    assert alice_client.get(_url(conversation)).context["streaming"] is False
    make_message(
        conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        parent=conversation.current_leaf,
    )
    content = alice_client.get(_url(conversation)).content.decode()
    assert '<form id="stop-form" class="stop-form" ws-send>' in content


def test_it_marks_the_current_conversation_in_the_sidebar(alice_client, conversation, team, alice):
    other = make_conversation(team, alice, title="Other")
    content = alice_client.get(_url(conversation)).content.decode()
    hex_ = conversation.pk.hex
    assert f'<li id="conversation-{hex_}" class="conversation-item" aria-current="page">' in content
    assert f'id="sidebar-title-{hex_}"' in content
    assert f'<li id="conversation-{other.pk.hex}" class="conversation-item">' in content


def test_it_lists_gateway_current_and_default_models(alice_client, team, alice, settings):
    settings.DEFAULT_MODEL = "house-default"
    conversation = make_conversation(team, alice, model="retired-model")
    models = alice_client.get(_url(conversation)).context["models"]
    assert models == ["retired-model", "house-default", "claude-3-haiku", "gpt-4o"]


def test_it_survives_a_gateway_without_models(alice_client, conversation, monkeypatch):
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: [])
    content = alice_client.get(_url(conversation)).content.decode()
    assert '<option value="gpt-4o" selected>gpt-4o</option>' in content


def test_it_checks_membership(charlie_client, conversation):
    conversation.is_shared = True
    conversation.save()
    assert charlie_client.get(_url(conversation)).status_code == 404


def test_it_hides_private_conversations_from_teammates(bob_client, conversation):
    assert bob_client.get(_url(conversation)).status_code == 404
    conversation.is_shared = True
    conversation.save()
    response = bob_client.get(_url(conversation))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Shared by alice" in content
    assert 'id="composer"' not in content
    assert "Continue in my own copy</button>" in content
    assert "Share with team" not in content
    assert "<fieldset disabled>" in content


def test_it_requires_write_role(victor_client, conversation):
    conversation.is_shared = True
    conversation.save()
    response = victor_client.get(_url(conversation))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="composer"' not in content
    assert "Continue in my own copy" not in content
    assert "New chat" not in content


def test_it_returns_404_for_unknown_ids(alice_client, team):
    url = reverse("chat:conversation", args=["00000000-0000-0000-0000-000000000000"])
    assert alice_client.get(url).status_code == 404


def _count_queries(client, conversation) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_url(conversation)).status_code == 200
    return len(queries)


def test_it_keeps_the_query_count_small_and_constant(
    alice_client, conversation, team, alice, bob, django_assert_max_num_queries
):
    _count_queries(alice_client, conversation)  # warms the first-run cache
    few = _count_queries(alice_client, conversation)
    parent = conversation.current_leaf
    for i in range(30):
        parent = make_message(conversation, content=f"message {i}", parent=parent)
    for i in range(20):
        make_conversation(team, bob, title=f"Bob shared {i}", is_shared=True)
        make_conversation(team, alice, title=f"Alice {i}")
    # Among them one each for the thread's attached images, those not sent yet, the viewer's
    # folders (sidebar) and the viewer's ratings of the replies; none per message.
    with django_assert_max_num_queries(13):
        response = alice_client.get(_url(conversation))
    assert len(response.context["thread"]) == 32
    assert _count_queries(alice_client, conversation) == few


def test_the_model_picker_marks_a_model_the_gateway_no_longer_lists(
    alice_client, conversation, settings
):
    settings.DEFAULT_MODEL = "gpt-4o"
    conversation.model = "gpt-3.5-retired"
    conversation.save(update_fields=["model"])
    content = alice_client.get(_url(conversation)).content.decode()
    assert (
        '<option value="gpt-3.5-retired" selected>gpt-3.5-retired (unavailable)</option>' in content
    )
    assert '<option value="gpt-4o">gpt-4o</option>' in content
    assert 'title="gpt-3.5-retired"' in content  # the full name, however narrow the picker


def test_the_model_picker_marks_nothing_when_the_gateway_lists_nothing(
    alice_client, conversation, monkeypatch
):
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: [])
    assert "(unavailable)" not in alice_client.get(_url(conversation)).content.decode()


def test_saving_settings_over_htmx_keeps_the_mark(alice_client, conversation):
    conversation.model = "gpt-3.5-retired"
    conversation.save(update_fields=["model"])
    response = alice_client.post(
        reverse("chat:update_settings", args=[conversation.pk]),
        {"model": "gpt-3.5-retired", "system_prompt": "", "temperature": ""},
        headers={"HX-Request": "true"},
    )
    assert ">gpt-3.5-retired (unavailable)</option>" in response.content.decode()
