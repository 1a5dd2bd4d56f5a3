from datetime import timedelta

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
    assert 'hx-trigger="keyup changed delay:300ms, search"' in content


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
