import pytest
from django.urls import reverse

from tests.factories import make_conversation

HTMX = {"HX-Request": "true"}


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, title="Pin me")


def _post(client, conversation, data=None, **kwargs):
    return client.post(reverse("chat:pin", args=[conversation.pk]), data or {}, **kwargs)


def test_it_works(alice_client, conversation, team, alice):
    make_conversation(team, alice, title="Newer")
    response = _post(alice_client, conversation, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.strip().startswith('<ul id="conversation-list"')
    assert content.index("Pin me") < content.index("Newer")
    assert "Unpin</button>" in content
    conversation.refresh_from_db()
    assert conversation.is_pinned


def test_it_toggles(alice_client, conversation):
    _post(alice_client, conversation)
    _post(alice_client, conversation)
    conversation.refresh_from_db()
    assert not conversation.is_pinned


def test_it_keeps_the_search(alice_client, conversation, team, alice):
    make_conversation(team, alice, title="Unrelated")
    content = _post(alice_client, conversation, {"q": "pin"}, headers=HTMX).content.decode()
    assert "Pin me" in content
    assert "Unrelated" not in content


def test_it_does_not_reorder_by_activity(alice_client, conversation):
    before = conversation.updated_at
    _post(alice_client, conversation)
    conversation.refresh_from_db()
    assert conversation.updated_at == before


def test_it_redirects_without_htmx(alice_client, conversation):
    response = _post(alice_client, conversation)
    assert response.status_code == 302
    assert response.url == conversation.get_absolute_url()


def test_it_checks_membership(charlie_client, conversation):
    assert _post(charlie_client, conversation).status_code == 404


def test_it_hides_private_conversations_from_teammates(bob_client, conversation):
    assert _post(bob_client, conversation).status_code == 404


@pytest.mark.parametrize("persona", ["bob_client", "victor_client"])
def test_it_is_for_the_creator_with_write_role(request, persona, conversation):
    conversation.is_shared = True
    conversation.save()
    client = request.getfixturevalue(persona)
    assert _post(client, conversation).status_code == 403
    conversation.refresh_from_db()
    assert not conversation.is_pinned


def test_it_requires_write_role(client, team, victor):
    conversation = make_conversation(team, victor)  # made before victor became a viewer
    client.force_login(victor)
    assert _post(client, conversation).status_code == 403
