from django.urls import reverse

from accounts.models import Membership


def _url(membership):
    return reverse("accounts:member_remove", args=[membership.team_id, membership.pk])


def _membership(user, team):
    return Membership.objects.get(user=user, team=team)


def test_it_asks_for_confirmation(alice_client, bob, team):
    target = _membership(bob, team)
    response = alice_client.get(_url(target))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Remove bob from Acme?" in content
    assert "Remove member</button>" in content
    assert Membership.objects.filter(pk=target.pk).exists()


def test_it_works(alice_client, bob, team):
    target = _membership(bob, team)
    response = alice_client.post(_url(target), follow=True)
    assert "bob was removed from Acme" in response.content.decode()
    assert not Membership.objects.filter(pk=target.pk).exists()


def test_it_protects_the_last_owner(alice_client, alice, team):
    own = _membership(alice, team)
    response = alice_client.post(_url(own), follow=True)
    assert "at least one owner" in response.content.decode()
    assert Membership.objects.filter(pk=own.pk).exists()


def test_an_owner_can_leave_when_another_owner_remains(alice_client, alice, bob, team):
    Membership.objects.filter(user=bob, team=team).update(role="owner")
    own = _membership(alice, team)
    alice_client.post(_url(own))
    assert not Membership.objects.filter(pk=own.pk).exists()


def test_it_requires_owner(bob_client, victor, team):
    target = _membership(victor, team)
    assert bob_client.get(_url(target)).status_code == 403
    assert bob_client.post(_url(target)).status_code == 403
    assert Membership.objects.filter(pk=target.pk).exists()


def test_it_checks_membership(charlie_client, bob, team):
    target = _membership(bob, team)
    assert charlie_client.post(_url(target)).status_code == 404
    assert Membership.objects.filter(pk=target.pk).exists()


def test_the_removed_member_loses_access(alice_client, bob_client, bob, team):
    alice_client.post(_url(_membership(bob, team)))
    response = bob_client.get(reverse("accounts:team"))
    assert "No team yet" in response.content.decode()
