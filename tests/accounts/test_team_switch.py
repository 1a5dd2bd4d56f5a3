import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from accounts.middleware import SESSION_TEAM_KEY
from tests.factories import make_membership

URL = reverse("accounts:team_switch")


def test_it_works(alice_client, alice, team, other_team):
    make_membership(other_team, alice)
    response = alice_client.post(URL, {"team_id": other_team.pk})
    assert response.status_code == 302
    assert alice_client.session[SESSION_TEAM_KEY] == other_team.pk
    content = alice_client.get(reverse("accounts:team")).content.decode()
    assert "<h1>Charlie&#x27;s</h1>" in content


def test_it_checks_membership(alice_client, team, other_team):
    assert alice_client.post(URL, {"team_id": other_team.pk}).status_code == 404
    assert SESSION_TEAM_KEY not in alice_client.session


@pytest.mark.parametrize("value", ["", "abc", "999999"])
def test_it_rejects_garbage(alice_client, team, value):
    assert alice_client.post(URL, {"team_id": value}).status_code == 404


def test_it_is_post_only(alice_client, team):
    assert alice_client.get(URL).status_code == 405


def _render_switcher(user, current_team):
    request = RequestFactory().get("/")
    request.user = user
    context = {"user": user, "current_team": current_team, "request": request}
    return render_to_string("accounts/team_switcher.html", context, request=request)


def test_the_switcher_lists_the_users_teams(alice, team, other_team):
    make_membership(other_team, alice)
    html = _render_switcher(alice, team)
    assert ">Team</label>" in html
    assert "Switch team</button>" in html
    assert f'<option value="{team.pk}" selected>Acme</option>' in html
    assert f'<option value="{other_team.pk}">' in html


def test_the_switcher_renders_nothing_with_one_team(alice, team):
    assert _render_switcher(alice, team).strip() == ""


def test_the_nav_shows_the_switcher_only_with_several_teams(alice_client, alice, other_team):
    assert "Switch team" not in alice_client.get(reverse("accounts:team")).content.decode()
    make_membership(other_team, alice)
    assert "Switch team" in alice_client.get(reverse("accounts:team")).content.decode()
