from unittest.mock import patch

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts.middleware import FIRST_RUN_CACHE_KEY, SESSION_TEAM_KEY
from accounts.models import Membership, Team, User

URL = reverse("accounts:setup")
PASSWORD = "a-long-passphrase-42"


def _form(username="admin", team_name="Parlor HQ"):
    return {
        "username": username,
        "password1": PASSWORD,
        "password2": PASSWORD,
        "team_name": team_name,
    }


@pytest.mark.django_db
def test_it_shows_the_form(client):
    response = client.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    for label in ("Username", "Password", "Password confirmation", "Team name"):
        assert f">{label}</label>" in content
    assert "My team" in content
    assert "Create account" in content


@pytest.mark.django_db
def test_it_creates_a_superuser_with_a_team(client):
    response = client.post(URL, _form())
    assert response.status_code == 302
    assert response.url == reverse("chat:home")

    user = User.objects.get()
    assert user.username == "admin"
    assert user.is_staff and user.is_superuser
    assert user.check_password(PASSWORD)
    team = Team.objects.get()
    assert team.name == "Parlor HQ"
    membership = Membership.objects.get()
    assert (membership.user, membership.team, membership.role) == (user, team, "owner")
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session[SESSION_TEAM_KEY] == team.pk
    assert cache.get(FIRST_RUN_CACHE_KEY) is True


@pytest.mark.django_db
def test_it_rejects_mismatched_passwords(client):
    response = client.post(URL, {**_form(), "password2": "something-else-99"})
    assert response.status_code == 200
    assert not User.objects.exists()


@pytest.mark.django_db
def test_it_404s_once_a_user_exists(client):
    client.post(URL, _form())
    client.logout()
    assert client.get(URL).status_code == 404
    assert client.post(URL, _form(username="mallory")).status_code == 404
    assert User.objects.count() == 1


def test_it_404s_when_users_exist_but_the_cache_is_cold(client, alice):
    assert cache.get(FIRST_RUN_CACHE_KEY) is None
    assert client.post(URL, _form(username="mallory")).status_code == 404
    assert not User.objects.filter(username="mallory").exists()


@pytest.mark.django_db
def test_a_second_submission_racing_the_first_does_not_create_a_second_admin(client):
    # Both requests pass the cheap "no users yet" check, as two parallel requests would;
    # the re-check inside the transaction must stop the second one.
    with patch("accounts.views.site_has_users", return_value=False):
        first = client.post(URL, _form(username="admin"))
        second = client.post(URL, _form(username="mallory", team_name="Evil"))
    assert first.status_code == 302
    assert second.status_code == 404
    assert list(User.objects.values_list("username", flat=True)) == ["admin"]
    assert list(Team.objects.values_list("name", flat=True)) == ["Parlor HQ"]
