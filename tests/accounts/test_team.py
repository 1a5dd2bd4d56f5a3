from django.urls import reverse

from accounts.middleware import SESSION_TEAM_KEY
from tests.factories import make_membership, make_team

URL = reverse("accounts:team")


def test_it_works(alice_client, team):
    response = alice_client.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert "<h1>Acme</h1>" in content
    for name in ("alice", "bob", "victor"):
        assert name in content


def test_it_shows_owner_controls_to_owners(alice_client, team):
    content = alice_client.get(URL).content.decode()
    assert ">Role</label>" in content
    assert "Create invite link" in content
    assert reverse("accounts:invite_create", args=[team.pk]) in content
    assert "Pending invites" in content
    assert ">Save</button>" in content


def test_it_is_read_only_for_members(bob_client, team):
    content = bob_client.get(URL).content.decode()
    assert "bob" in content and "alice" in content
    assert "Create invite link" not in content
    assert ">Save</button>" not in content
    assert "Pending invites" not in content


def test_it_is_read_only_for_viewers(victor_client, team):
    content = victor_client.get(URL).content.decode()
    assert "Create invite link" not in content
    assert "Viewer" in content


def test_it_shows_the_session_team(charlie_client, charlie, other_team, team):
    make_membership(team, charlie)
    session = charlie_client.session
    session[SESSION_TEAM_KEY] = team.pk
    session.save()
    content = charlie_client.get(URL).content.decode()
    assert "<h1>Acme</h1>" in content
    assert "Create invite link" not in content


def test_it_offers_a_new_team_when_the_user_has_none(client, alice):
    client.force_login(alice)
    response = client.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert "New team" in content
    assert reverse("accounts:team_create") in content


def test_it_requires_login(client, team):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_it_does_not_show_other_teams_members(charlie_client, team):
    make_team("Unrelated")
    content = charlie_client.get(URL).content.decode()
    assert "bob" not in content
