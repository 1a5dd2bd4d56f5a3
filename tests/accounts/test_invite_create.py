from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from accounts.models import Invite


def _url(team):
    return reverse("accounts:invite_create", args=[team.pk])


def test_it_works(alice_client, alice, team):
    response = alice_client.post(_url(team), {"role": "viewer"})
    assert response.status_code == 302
    assert response.url == reverse("accounts:team")
    invite = Invite.objects.get()
    assert (invite.team, invite.role, invite.created_by) == (team, "viewer", alice)
    assert invite.is_usable()
    assert invite.expires_at > timezone.now() + timedelta(hours=71)


def test_it_shows_the_new_link_once(alice_client, team):
    alice_client.post(_url(team), {"role": "member"})
    invite = Invite.objects.get()
    link = "http://testserver" + reverse("accounts:invite_accept", args=[invite.token])

    content = alice_client.get(reverse("accounts:team")).content.decode()
    assert f'data-invite-url="{link}"' in content
    assert 'id="new-invite-url"' in content
    assert 'class="btn btn-small copy-btn" data-copy-target="#new-invite-url"' in content

    content = alice_client.get(reverse("accounts:team")).content.decode()
    assert invite.token not in content
    assert reverse("accounts:invite_revoke", args=[team.pk, invite.pk]) in content


def test_it_rejects_an_unknown_role(alice_client, team):
    response = alice_client.post(_url(team), {"role": "admin"})
    assert response.status_code == 302
    assert not Invite.objects.exists()


def test_it_requires_owner(bob_client, team):
    assert bob_client.post(_url(team), {"role": "member"}).status_code == 403
    assert not Invite.objects.exists()


def test_it_requires_owner_for_viewers_too(victor_client, team):
    assert victor_client.post(_url(team), {"role": "member"}).status_code == 403


def test_it_checks_membership(charlie_client, team):
    assert charlie_client.post(_url(team), {"role": "owner"}).status_code == 404
    assert not Invite.objects.exists()


def test_it_is_post_only(alice_client, team):
    assert alice_client.get(_url(team)).status_code == 405
