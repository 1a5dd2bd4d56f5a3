import pytest
from django.urls import reverse

from tests.factories import make_conversation

HTMX = {"HX-Request": "true"}


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice)


def _post(client, name, conversation, **kwargs):
    return client.post(reverse(name, args=[conversation.pk]), **kwargs)


def test_it_works(alice_client, conversation, bob_client):
    response = _post(alice_client, "chat:share", conversation, headers=HTMX)
    assert response.status_code == 200
    assert "Stop sharing</button>" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.is_shared
    assert bob_client.get(conversation.get_absolute_url()).status_code == 200


def test_unshare_works(alice_client, conversation, bob_client):
    conversation.is_shared = True
    conversation.save()
    response = _post(alice_client, "chat:unshare", conversation, headers=HTMX)
    assert "Share with team</button>" in response.content.decode()
    conversation.refresh_from_db()
    assert not conversation.is_shared
    assert bob_client.get(conversation.get_absolute_url()).status_code == 404


def test_it_redirects_without_htmx(alice_client, conversation):
    response = _post(alice_client, "chat:share", conversation)
    assert response.status_code == 302
    assert response.url == conversation.get_absolute_url()


def test_it_requires_post(alice_client, conversation):
    assert alice_client.get(reverse("chat:share", args=[conversation.pk])).status_code == 405


def test_it_checks_membership(charlie_client, conversation):
    assert _post(charlie_client, "chat:share", conversation).status_code == 404


def test_it_hides_private_conversations_from_teammates(bob_client, conversation):
    assert _post(bob_client, "chat:share", conversation).status_code == 404
    conversation.refresh_from_db()
    assert not conversation.is_shared


@pytest.mark.parametrize("persona", ["bob_client", "victor_client"])
def test_it_is_for_the_creator_with_write_role(request, persona, conversation):
    conversation.is_shared = True
    conversation.save()
    client = request.getfixturevalue(persona)
    assert _post(client, "chat:unshare", conversation).status_code == 403
    conversation.refresh_from_db()
    assert conversation.is_shared


def test_it_requires_write_role(client, team, victor):
    conversation = make_conversation(team, victor)  # made before victor became a viewer
    client.force_login(victor)
    assert _post(client, "chat:share", conversation).status_code == 403
