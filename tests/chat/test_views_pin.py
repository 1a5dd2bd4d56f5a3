"""Pins are per person: a pin belongs to whoever pinned it, reading is enough to pin."""

import pytest
from django.urls import reverse

from chat.models import Pin
from tests.factories import make_conversation, make_pin

HTMX = {"HX-Request": "true"}
HOME = reverse("chat:home")


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, title="Pin me")


def _post(client, conversation, data=None, **kwargs):
    return client.post(reverse("chat:pin", args=[conversation.pk]), data or {}, **kwargs)


def _pinned_by(conversation) -> set[str]:
    return {pin.user.username for pin in Pin.objects.filter(conversation=conversation)}


def test_it_works(alice_client, conversation, team, alice):
    make_conversation(team, alice, title="Newer")
    response = _post(alice_client, conversation, headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.strip().startswith('<ul id="conversation-list"')
    assert content.index("Pin me") < content.index("Newer")
    assert "Unpin</button>" in content
    assert _pinned_by(conversation) == {"alice"}


def test_it_toggles(alice_client, conversation):
    _post(alice_client, conversation)
    _post(alice_client, conversation)
    assert _pinned_by(conversation) == set()


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
    assert _pinned_by(conversation) == set()


def test_it_hides_private_conversations_from_teammates(bob_client, conversation):
    assert _post(bob_client, conversation).status_code == 404
    assert _pinned_by(conversation) == set()


def test_alices_pin_is_not_bobs(alice_client, bob_client, conversation, team, alice):
    """alice pins and shares her chat: bob sees it shared, not pinned, and cannot unpin it
    for her."""
    make_conversation(team, alice, title="Newer", is_shared=True)
    _post(alice_client, conversation)
    conversation.is_shared = True
    conversation.save(update_fields=["is_shared"])  # keeps it older than "Newer"
    content = bob_client.get(HOME).content.decode()
    assert "badge-pinned" not in content
    assert content.index("Newer") < content.index("Pin me")
    assert f'action="{reverse("chat:pin", args=[conversation.pk])}"' in content
    assert _pinned_by(conversation) == {"alice"}


@pytest.mark.parametrize("persona", ["bob", "victor"])
def test_reading_is_enough_to_pin_for_yourself(
    request, persona, alice_client, conversation, team, alice
):
    make_conversation(team, alice, title="Newer", is_shared=True)
    make_pin(conversation, alice)
    conversation.is_shared = True
    conversation.save(update_fields=["is_shared"])  # keeps it older than "Newer"
    client = request.getfixturevalue(f"{persona}_client")

    content = _post(client, conversation, headers=HTMX).content.decode()
    assert _pinned_by(conversation) == {"alice", persona}
    assert content.index("Pin me") < content.index("Newer")
    assert "Unpin</button>" in content

    content = _post(client, conversation, headers=HTMX).content.decode()
    assert _pinned_by(conversation) == {"alice"}  # alice's pin stays hers
    assert content.index("Newer") < content.index("Pin me")
    assert "Unpin</button>" not in content
    assert "Unpin</button>" in alice_client.get(HOME).content.decode()


def test_the_rename_and_delete_actions_stay_the_creators(bob_client, conversation):
    conversation.is_shared = True
    conversation.save()
    content = bob_client.get(HOME).content.decode()
    assert reverse("chat:pin", args=[conversation.pk]) in content
    assert reverse("chat:rename", args=[conversation.pk]) not in content
    assert reverse("chat:delete", args=[conversation.pk]) not in content
