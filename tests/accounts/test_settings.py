"""accounts:settings, the signed-in user's own settings (display name, default model, theme,
language, a link to the password change), and accounts:theme, the top bar's toggle."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from accounts.models import User
from chat.models import Conversation
from tests.factories import PASSWORD

URL = reverse("accounts:settings")
THEME_URL = reverse("accounts:theme")
COOKIE = django_settings.LANGUAGE_COOKIE_NAME


@pytest.fixture(autouse=True)
def gateway_models(monkeypatch, settings):
    settings.DEFAULT_MODEL = "gpt-4o-mini"
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["claude-3-haiku", "gpt-4o"])


def _data(**changes):
    return {"display_name": "", "default_model": "", "theme": "system", "language": ""} | changes


def test_it_shows_the_form(alice_client):
    response = alice_client.get(URL)
    content = response.content.decode()
    assert response.status_code == 200
    for label in ("Display name", "Default model", "Theme", "Language"):
        assert f">{label}</label>" in content
    assert '<option value="" selected>Site default (gpt-4o-mini)</option>' in content
    assert '<option value="gpt-4o">gpt-4o</option>' in content
    assert f'href="{reverse("accounts:password_change")}"' in content


def test_it_works(alice_client, alice):
    response = alice_client.post(
        URL, _data(display_name="Alice Liddell", default_model="gpt-4o", theme="dark")
    )
    assert response.status_code == 302
    assert response.url == URL
    alice.refresh_from_db()
    assert (alice.display_name, alice.default_model, alice.theme, alice.language) == (
        "Alice Liddell",
        "gpt-4o",
        "dark",
        "",
    )


def test_it_validates(alice_client, alice):
    response = alice_client.post(URL, _data(default_model="not-listed", theme="purple"))
    assert response.status_code == 400
    content = response.content.decode()
    assert "Select a valid choice." in content
    alice.refresh_from_db()
    assert (alice.default_model, alice.theme) == ("", "system")


def test_a_saved_model_stays_valid_when_the_gateway_drops_it(alice_client, alice, monkeypatch):
    alice.default_model = "retired-model"
    alice.save()
    response = alice_client.post(URL, _data(default_model="retired-model", display_name="A"))
    assert response.status_code == 302


def test_it_requires_login(client, alice):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert client.post(URL, _data(display_name="x")).status_code == 302
    assert client.post(THEME_URL, {"theme": "dark"}).status_code == 302


def test_charlie_changes_only_his_own(charlie, other_team, alice, bob, client):
    """Per user, no id in the URL: another user's id in the form changes nothing of theirs."""
    client.force_login(charlie)
    client.post(URL, _data(display_name="Charlie", id=bob.pk, username="bob"))
    bob.refresh_from_db()
    charlie.refresh_from_db()
    assert (bob.display_name, bob.username) == ("", "bob")
    assert (charlie.display_name, charlie.username) == ("Charlie", "charlie")
    assert client.get(URL).content.decode().count('value="Charlie"') == 1


def test_the_language_sets_the_cookie_and_follows_the_user(alice_client, alice, client):
    response = alice_client.post(URL, _data(language="zh-hans"))
    assert response.cookies[COOKIE].value == "zh-hans"
    alice.refresh_from_db()
    assert alice.language == "zh-hans"
    # Signing in on another browser brings the language along.
    login = client.post(reverse("accounts:login"), {"username": "alice", "password": PASSWORD})
    assert login.cookies[COOKIE].value == "zh-hans"
    # Back to the browser's choice: the cookie goes.
    response = alice_client.post(URL, _data(language=""))
    assert response.cookies[COOKIE].value == ""
    assert response.cookies[COOKIE]["max-age"] == 0


def test_the_saved_theme_is_rendered_into_the_page(alice_client, alice):
    assert ' data-theme="' not in alice_client.get(URL).content.decode()
    alice.theme = User.Theme.DARK
    alice.save()
    content = alice_client.get(URL).content.decode()
    assert 'data-theme-saved="dark"' in content
    assert ' data-theme="dark"' in content


def test_the_toggle_saves_the_theme(alice_client, alice):
    assert alice_client.post(THEME_URL, {"theme": "light"}).status_code == 204
    alice.refresh_from_db()
    assert alice.theme == "light"
    assert alice_client.post(THEME_URL, {"theme": "neon"}).status_code == 400
    alice.refresh_from_db()
    assert alice.theme == "light"


def test_the_toggle_is_post_only(alice_client):
    assert alice_client.get(THEME_URL).status_code == 405


def test_new_chats_use_the_users_default_model(alice_client, alice, team):
    alice.default_model = "claude-3-haiku"
    alice.save()
    alice_client.post(reverse("chat:new"))
    assert Conversation.objects.get().model == "claude-3-haiku"
