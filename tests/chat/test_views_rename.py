import pytest
from django.urls import reverse

from tests.factories import make_conversation, row_of

HTMX = {"HX-Request": "true"}


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, title="Old title")


def _post(client, conversation, title, **kwargs):
    return client.post(reverse("chat:rename", args=[conversation.pk]), {"title": title}, **kwargs)


def test_it_works(alice_client, conversation):
    response = _post(alice_client, conversation, "  New title ", headers=HTMX)
    assert response.status_code == 200
    content = response.content.decode()
    assert content.strip().startswith(f'<li id="conversation-{conversation.pk.hex}"')
    assert (
        f'<span id="sidebar-title-{conversation.pk.hex}" class="conversation-title">New title'
        in content
    )
    assert "hx-swap-oob" not in content
    conversation.refresh_from_db()
    assert conversation.title == "New title"


def test_it_updates_the_page_title_of_the_current_conversation(alice_client, conversation):
    page = "http://testserver" + conversation.get_absolute_url()
    response = _post(
        alice_client, conversation, "Renamed", headers={**HTMX, "HX-Current-URL": page}
    )
    content = response.content.decode()
    assert '<span hx-swap-oob="innerHTML:#conversation-title">Renamed</span>' in content
    assert 'aria-current="page"' in content


def test_it_redirects_without_htmx(alice_client, conversation):
    response = _post(alice_client, conversation, "New title")
    assert response.status_code == 302
    assert response.url == conversation.get_absolute_url()


def test_it_rejects_a_blank_title(alice_client, conversation):
    response = _post(alice_client, conversation, "   ", headers=HTMX)
    content = response.content.decode()
    assert 'class="field-error"' in content
    assert '<details class="conversation-actions" open>' in content
    conversation.refresh_from_db()
    assert conversation.title == "Old title"


def test_it_rejects_a_long_title(alice_client, conversation):
    _post(alice_client, conversation, "x" * 201)
    conversation.refresh_from_db()
    assert conversation.title == "Old title"


def test_it_checks_membership(charlie_client, conversation):
    before = row_of(conversation)
    assert _post(charlie_client, conversation, "Mine now").status_code == 404
    assert row_of(conversation) == before


def test_it_hides_private_conversations_from_teammates(bob_client, conversation):
    before = row_of(conversation)
    assert _post(bob_client, conversation, "Mine now").status_code == 404
    assert row_of(conversation) == before


@pytest.mark.parametrize("persona", ["bob_client", "victor_client"])
def test_it_is_for_the_creator_with_write_role(request, persona, conversation):
    conversation.is_shared = True
    conversation.save()
    before = row_of(conversation)
    client = request.getfixturevalue(persona)
    assert _post(client, conversation, "Mine now").status_code == 403
    assert row_of(conversation) == before


def test_it_requires_write_role(client, team, victor):
    conversation = make_conversation(team, victor)  # made before victor became a viewer
    client.force_login(victor)
    before = row_of(conversation)
    assert _post(client, conversation, "Renamed").status_code == 403
    assert row_of(conversation) == before
