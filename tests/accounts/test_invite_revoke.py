import pytest
from django.urls import reverse

from accounts.models import Invite


@pytest.fixture
def invite(team, alice):
    return Invite.objects.create(team=team, role="member", created_by=alice)


def _url(invite):
    return reverse("accounts:invite_revoke", args=[invite.team_id, invite.pk])


def test_it_works(alice_client, invite):
    response = alice_client.post(_url(invite))
    assert response.status_code == 302
    invite.refresh_from_db()
    assert not invite.is_usable()


def test_a_revoked_invite_cannot_be_accepted(alice_client, client, invite):
    alice_client.post(_url(invite))
    response = client.get(reverse("accounts:invite_accept", args=[invite.token]))
    assert response.status_code == 410
    assert "expired" in response.content.decode()


def test_it_drops_the_invite_from_the_pending_list(alice_client, invite):
    alice_client.post(_url(invite))
    content = alice_client.get(reverse("accounts:team")).content.decode()
    assert "No pending invites." in content


def test_it_requires_owner(bob_client, invite):
    assert bob_client.post(_url(invite)).status_code == 403
    invite.refresh_from_db()
    assert invite.is_usable()


def test_it_checks_membership(charlie_client, invite):
    assert charlie_client.post(_url(invite)).status_code == 404


def test_it_checks_the_invite_belongs_to_the_team(charlie_client, other_team, invite):
    url = reverse("accounts:invite_revoke", args=[other_team.pk, invite.pk])
    assert charlie_client.post(url).status_code == 404
    invite.refresh_from_db()
    assert invite.is_usable()
