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


def test_sending_from_home_creates_the_conversation_and_hands_it_the_text(
    alice_client, team, alice
):
    response = alice_client.post(URL, {"text": "  Plan a picnic  ", "model": "claude-3-haiku"})
    conversation = Conversation.objects.get()
    assert response.status_code == 302
    assert response.url == conversation.get_absolute_url()
    assert conversation.model == "claude-3-haiku"
    assert not conversation.messages.exists()  # the page's socket sends it, as any message
    content = alice_client.get(response.url).content.decode()
    assert "data-autosend" in content
    assert ">Plan a picnic</textarea>" in content
    # Once only: a reload does not send it again.
    content = alice_client.get(response.url).content.decode()
    assert "data-autosend" not in content
    assert ">Plan a picnic</textarea>" not in content


def test_sending_from_home_reuses_an_untouched_chat_with_the_model_chosen(
    alice_client, team, alice
):
    alice_client.post(URL)
    alice_client.post(URL, {"text": "Hello", "model": "claude-3-haiku"})
    assert Conversation.objects.get().model == "claude-3-haiku"


def test_an_empty_message_from_home_creates_nothing(alice_client, team):
    response = alice_client.post(URL, {"text": "   ", "model": "gpt-4o"})
    assert response.status_code == 400
    assert "Write a message first." in response.content.decode()
    assert not Conversation.objects.exists()


def test_a_too_long_message_from_home_keeps_the_text(alice_client, team, settings):
    settings.MESSAGE_MAX_CHARS = 10
    response = alice_client.post(URL, {"text": "far too long a message", "model": "gpt-4o"})
    content = response.content.decode()
    assert response.status_code == 400
    assert "Your message is too long" in content
    assert ">far too long a message</textarea>" in content
    assert '<option value="gpt-4o" selected>' in content
    assert not Conversation.objects.exists()


def test_an_unknown_model_from_home_keeps_the_text(alice_client, team):
    response = alice_client.post(URL, {"text": "Keep me", "model": "not-a-model"})
    content = response.content.decode()
    assert response.status_code == 400
    assert "Choose one of the models offered." in content
    assert ">Keep me</textarea>" in content
    assert not Conversation.objects.exists()


def test_a_viewer_cannot_send_from_home(victor_client, team):
    assert victor_client.post(URL, {"text": "Hi", "model": "gpt-4o"}).status_code == 403
    assert not Conversation.objects.exists()


def test_the_pending_text_goes_only_to_its_own_conversation(alice_client, team, alice):
    other = make_conversation(team, alice, title="Other")
    alice_client.post(URL, {"text": "For the new one", "model": "gpt-4o"})
    assert "For the new one" not in alice_client.get(other.get_absolute_url()).content.decode()


def _used_up(team) -> None:
    from decimal import Decimal

    from usage.models import TeamBudget

    TeamBudget.objects.create(team=team, monthly_limit=Decimal(0))


def test_a_refused_first_message_leaves_no_conversation(alice_client, team):
    _used_up(team)
    response = alice_client.post(URL, {"text": "Hello", "model": ""})
    assert response.status_code == 400
    assert not Conversation.objects.exists()
    page = response.content.decode()
    assert "Hello</textarea>" in page  # the text stays in the composer


def test_the_refusal_links_an_owner_to_the_budget(alice_client, team):
    _used_up(team)
    page = alice_client.post(URL, {"text": "Hello"}).content.decode()
    error = page[page.index('id="composer-error"') :].split("</p>")[0]
    assert 'href="/accounts/team/#budget"' in error
    assert "ask a team owner" not in error.lower()


def test_the_refusal_names_the_owners_to_a_member(bob_client, team):
    _used_up(team)
    page = bob_client.post(URL, {"text": "Hello"}).content.decode()
    error = page[page.index('id="composer-error"') :].split("</p>")[0]
    assert "ask a team owner (alice)" in error.lower()
    assert 'href="/accounts/team/#budget"' not in page
    assert not Conversation.objects.exists()
