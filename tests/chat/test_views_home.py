from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from chat.models import Conversation
from tests.factories import make_conversation, make_message, make_pin, make_team, make_user

URL = reverse("chat:home")
SEARCH = reverse("chat:search")


def test_it_works(alice_client, team, alice):
    make_conversation(team, alice, title="Quarterly plan")
    content = alice_client.get(URL).content.decode()
    assert "Quarterly plan" in content
    assert "New chat</button>" in content
    # Any change of the field searches: typing, paste, autofill.
    assert 'hx-trigger="input changed delay:300ms, search"' in content


def test_it_requires_login(client, alice):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("accounts:login") in response.url


def test_it_points_to_team_creation_without_a_team(client, db):
    loner = make_user("loner")
    client.force_login(loner)
    content = client.get(URL).content.decode()
    assert reverse("accounts:team_create") in content
    assert "New chat" not in content


def test_it_checks_membership(charlie_client, team, alice):
    make_conversation(team, alice, title="Acme secrets", is_shared=True)
    assert "Acme secrets" not in charlie_client.get(URL).content.decode()


def test_it_hides_private_conversations_from_teammates(bob_client, team, alice):
    make_conversation(team, alice, title="Alice private")
    make_conversation(team, alice, title="Alice shared", is_shared=True)
    content = bob_client.get(URL).content.decode()
    assert "Alice private" not in content
    assert "Alice shared" in content
    assert "Shared by alice" in content


def test_it_hides_new_chat_from_viewers(victor_client, team):
    content = victor_client.get(URL).content.decode()
    assert "New chat" not in content
    assert reverse("chat:new") not in content


def test_it_orders_pinned_first_then_newest(alice_client, team, alice):
    now = timezone.now()
    for age, title, pinned in [(3, "Old pinned", True), (2, "Older", False), (1, "Newest", False)]:
        conversation = make_conversation(team, alice, title=title)
        if pinned:
            make_pin(conversation, alice)
        Conversation.objects.filter(pk=conversation.pk).update(
            updated_at=now - timedelta(hours=age)
        )
    content = alice_client.get(URL).content.decode()
    assert content.index("Old pinned") < content.index("Newest") < content.index("Older")


def test_it_shows_actions_only_on_own_conversations(bob_client, team, alice, bob):
    theirs = make_conversation(team, alice, title="Alice shared", is_shared=True)
    mine = make_conversation(team, bob, title="Bob's")
    content = bob_client.get(URL).content.decode()
    assert reverse("chat:rename", args=[mine.pk]) in content
    assert reverse("chat:rename", args=[theirs.pk]) not in content
    assert reverse("chat:delete", args=[theirs.pk]) not in content


def test_search_finds_by_title(alice_client, team, alice):
    make_conversation(team, alice, title="Holiday rota")
    make_conversation(team, alice, title="Budget")
    content = alice_client.get(SEARCH, {"q": "holiday"}).content.decode()
    assert "Holiday rota" in content
    assert "Budget" not in content
    assert "<html" not in content


def test_search_finds_by_message_text_once(alice_client, team, alice):
    conversation = make_conversation(team, alice, title="Untitled thoughts")
    first = make_message(conversation, content="the Kubernetes upgrade")
    make_message(conversation, role="assistant", content="kubernetes again", parent=first)
    make_conversation(team, alice, title="Other")
    content = alice_client.get(SEARCH, {"q": "KUBERNETES"}).content.decode()
    assert content.count(f'id="conversation-{conversation.pk.hex}"') == 1
    assert "Other" not in content


def test_search_never_returns_private_conversations_of_others(bob_client, team, alice):
    hidden = make_conversation(team, alice, title="Alice private zebra")
    make_message(hidden, content="zebra")
    make_conversation(team, alice, title="Alice shared zebra", is_shared=True)
    content = bob_client.get(SEARCH, {"q": "zebra"}).content.decode()
    assert "Alice private zebra" not in content
    assert "Alice shared zebra" in content


def test_search_checks_membership(charlie_client, team, alice):
    make_conversation(team, alice, title="Acme zebra", is_shared=True)
    other = make_team("Elsewhere")
    make_conversation(other, alice, title="Foreign zebra", is_shared=True)
    content = charlie_client.get(SEARCH, {"q": "zebra"}).content.decode()
    assert "zebra" not in content
    assert "No conversation matches your search." in content


def test_search_marks_the_conversation_of_the_current_page(alice_client, team, alice):
    conversation = make_conversation(team, alice, title="Current one")
    page = "http://testserver" + conversation.get_absolute_url()
    content = alice_client.get(
        SEARCH, {"q": "current"}, headers={"HX-Request": "true", "HX-Current-URL": page}
    ).content.decode()
    assert 'aria-current="page"' in content


def test_home_filters_by_q_without_javascript(alice_client, team, alice):
    make_conversation(team, alice, title="Holiday rota")
    make_conversation(team, alice, title="Budget")
    content = alice_client.get(URL, {"q": "rota"}).content.decode()
    assert "Holiday rota" in content
    assert "Budget" not in content


@pytest.fixture
def gateway_models(monkeypatch):
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["claude-3-haiku", "gpt-4o"])


def test_home_is_a_composer_with_the_default_model(alice_client, team, settings, gateway_models):
    settings.DEFAULT_MODEL = "gpt-4o"
    content = alice_client.get(URL).content.decode()
    new_url = reverse("chat:new")
    assert (
        f'<form id="home-composer" class="composer composer-home" method="post" action="{new_url}">'
        in content
    )
    assert '<label for="composer-text" class="visually-hidden">Message</label>' in content
    assert '<textarea id="composer-text" name="text"' in content
    assert '<option value="gpt-4o" selected>gpt-4o · default</option>' in content
    assert '<option value="claude-3-haiku">claude-3-haiku</option>' in content
    assert 'class="starter-prompt" data-prompt="Draft a short, friendly email"' in content
    # One "New chat" control: the sidebar's (the top bar's icon button shows on phones only).
    assert content.count("New chat</button>") == 1
    assert "Pick up a conversation from the list" not in content


def test_home_marks_a_default_model_the_gateway_no_longer_lists(
    alice_client, team, settings, gateway_models
):
    settings.DEFAULT_MODEL = "gpt-3.5-retired"
    content = alice_client.get(URL).content.decode()
    assert ">gpt-3.5-retired (unavailable) · default</option>" in content


def test_home_says_what_to_do_with_no_conversations(alice_client, team):
    content = alice_client.get(URL).content.decode()
    assert "No conversations yet. Write a message to start one." in content


def test_home_search_without_results_says_what_to_do(alice_client, team, alice):
    make_conversation(team, alice, title="Budget")
    content = alice_client.get(URL, {"q": "zebra"}).content.decode()
    assert "No conversation matches your search. Try other words, or clear the search." in content


def test_a_viewers_home_explains_the_role(victor_client, team, alice):
    content = victor_client.get(URL).content.decode()
    assert 'id="composer-text"' not in content
    assert "None is shared yet" in content
    make_conversation(team, alice, title="Shared plan", is_shared=True)
    content = victor_client.get(URL).content.decode()
    assert "pick one from the list" in content
