import pytest
from django.urls import reverse

from tests.factories import make_conversation, row_of

HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def gateway_models(monkeypatch):
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["claude-3-haiku", "gpt-4o"])


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, model="gpt-4o", system_prompt="Be brief.")


def _url(conversation):
    return reverse("chat:update_settings", args=[conversation.pk])


def _post(client, conversation, **data):
    data = {"model": "claude-3-haiku", "system_prompt": "Be kind.", "temperature": "0.7", **data}
    return client.post(_url(conversation), data, headers=HTMX)


def test_it_works(alice_client, conversation):
    response = _post(alice_client, conversation)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Settings saved." in content
    assert '<form id="conversation-settings"' in content
    assert "<html" not in content
    conversation.refresh_from_db()
    assert conversation.model == "claude-3-haiku"
    assert conversation.system_prompt == "Be kind."
    assert conversation.temperature == 0.7


def test_it_redirects_without_htmx(alice_client, conversation):
    response = alice_client.post(_url(conversation), {"model": "claude-3-haiku"})
    assert response.status_code == 302
    assert response.url == conversation.get_absolute_url()


def test_blank_temperature_means_the_model_default(alice_client, conversation):
    conversation.temperature = 1.2
    conversation.save()
    _post(alice_client, conversation, temperature="")
    conversation.refresh_from_db()
    assert conversation.temperature is None


def test_it_keeps_the_current_model_when_the_gateway_dropped_it(alice_client, team, alice):
    conversation = make_conversation(team, alice, model="retired-model")
    _post(alice_client, conversation, model="retired-model", temperature="1")
    conversation.refresh_from_db()
    assert conversation.model == "retired-model"
    assert conversation.temperature == 1


@pytest.mark.parametrize("temperature", ["2.5", "-0.1", "warm"])
def test_it_rejects_a_bad_temperature_and_keeps_the_input(alice_client, conversation, temperature):
    response = _post(alice_client, conversation, temperature=temperature)
    content = response.content.decode()
    assert "Settings saved." not in content
    assert "Settings not saved" in content
    assert f'value="{temperature}"' in content
    assert "Be kind." in content
    conversation.refresh_from_db()
    assert (conversation.model, conversation.system_prompt) == ("gpt-4o", "Be brief.")
    assert conversation.temperature is None


def test_it_rejects_an_unknown_model(alice_client, conversation):
    response = _post(alice_client, conversation, model="made-up")
    content = response.content.decode()
    assert 'id="model-select-error"' in content
    assert "Be kind." in content
    conversation.refresh_from_db()
    assert conversation.model == "gpt-4o"
    assert conversation.system_prompt == "Be brief."


def test_it_rejects_a_long_system_prompt(alice_client, conversation):
    _post(alice_client, conversation, system_prompt="x" * 8001)
    conversation.refresh_from_db()
    assert conversation.system_prompt == "Be brief."


def test_it_shows_the_page_with_errors_without_htmx(alice_client, conversation):
    response = alice_client.post(_url(conversation), {"model": "gpt-4o", "temperature": "9"})
    assert response.status_code == 400
    content = response.content.decode()
    assert '<h1 id="conversation-title">' in content
    assert 'value="9"' in content


def test_it_checks_membership(charlie_client, conversation):
    conversation.is_shared = True
    conversation.save()
    before = row_of(conversation)
    assert _post(charlie_client, conversation).status_code == 404
    assert row_of(conversation) == before


def test_it_hides_private_conversations_from_teammates(bob_client, conversation):
    before = row_of(conversation)
    assert _post(bob_client, conversation).status_code == 404
    assert row_of(conversation) == before


def test_it_is_for_the_creator_only(bob_client, conversation):
    conversation.is_shared = True
    conversation.save()
    before = row_of(conversation)
    assert _post(bob_client, conversation).status_code == 403
    assert row_of(conversation) == before
    assert before["model"] == "gpt-4o"


def test_it_requires_write_role(victor_client, conversation):
    conversation.is_shared = True
    conversation.save()
    before = row_of(conversation)
    assert _post(victor_client, conversation).status_code == 403
    assert row_of(conversation) == before
