import pytest
from django.urls import reverse

from chat.models import Conversation
from tests.factories import make_conversation, make_message, make_user

URL = reverse("chat:new")


@pytest.fixture(autouse=True)
def gateway_models(monkeypatch):
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["claude-3-haiku", "gpt-4o"])


def test_it_works(alice_client, team, alice, settings):
    settings.DEFAULT_MODEL = "gpt-4o"
    response = alice_client.post(URL)
    conversation = Conversation.objects.get()
    assert response.status_code == 302
    assert response.url == conversation.get_absolute_url()
    assert conversation.team == team
    assert conversation.created_by == alice
    assert conversation.model == "gpt-4o"
    assert not conversation.is_shared


def test_it_falls_back_to_the_first_chat_model(alice_client, team, settings):
    settings.DEFAULT_MODEL = ""
    alice_client.post(URL)
    assert Conversation.objects.get().model == "claude-3-haiku"


def test_it_requires_post(alice_client, team):
    assert alice_client.get(URL).status_code == 405


def test_it_requires_write_role(victor_client, team):
    assert victor_client.post(URL).status_code == 403
    assert not Conversation.objects.exists()


def test_it_creates_in_the_users_own_team(charlie_client, other_team, charlie, team):
    charlie_client.post(URL)
    assert Conversation.objects.get().team == other_team


def test_it_sends_users_without_a_team_home(client, db):
    client.force_login(make_user("loner"))
    response = client.post(URL)
    assert response.status_code == 302
    assert response.url == reverse("chat:home")
    assert not Conversation.objects.exists()


def test_it_reuses_an_untouched_new_chat(alice_client, team, alice, bob):
    alice_client.post(URL)
    alice_client.post(URL)
    assert Conversation.objects.filter(created_by=alice).count() == 1
    make_conversation(team, bob, title="")  # someone else's empty chat is not reused
    alice_client.post(URL)
    assert Conversation.objects.filter(created_by=alice).count() == 1


def test_it_starts_a_fresh_chat_once_the_last_one_has_messages(alice_client, team, alice):
    alice_client.post(URL)
    make_message(Conversation.objects.get(created_by=alice), content="Hi")
    alice_client.post(URL)
    assert Conversation.objects.filter(created_by=alice).count() == 2
