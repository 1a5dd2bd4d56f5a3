from django.urls import reverse

from accounts.middleware import SESSION_TEAM_KEY
from accounts.models import Membership, Team

URL = reverse("accounts:team_create")


def test_it_shows_the_form(bob_client):
    content = bob_client.get(URL).content.decode()
    assert ">Name</label>" in content
    assert "Create team</button>" in content


def test_it_works(bob_client, bob):
    response = bob_client.post(URL, {"name": "Side project"})
    assert response.status_code == 302
    assert response.url == reverse("accounts:team")
    team = Team.objects.get(name="Side project")
    assert Membership.objects.get(team=team, user=bob).role == "owner"
    assert bob_client.session[SESSION_TEAM_KEY] == team.pk
    content = bob_client.get(response.url).content.decode()
    assert "<h1>Side project</h1>" in content


def test_it_requires_a_name(bob_client):
    response = bob_client.post(URL, {"name": ""})
    assert response.status_code == 200
    assert not Team.objects.filter(name="").exists()


def test_it_requires_login(client, alice):
    response = client.post(URL, {"name": "X"})
    assert response.status_code == 302
    assert not Team.objects.filter(name="X").exists()
