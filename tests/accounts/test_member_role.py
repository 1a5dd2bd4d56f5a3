from django.urls import reverse

from accounts.models import Membership
from tests.factories import make_membership


def _url(membership):
    return reverse("accounts:member_role", args=[membership.team_id, membership.pk])


def _membership(user, team):
    return Membership.objects.get(user=user, team=team)


def test_it_works(alice_client, bob, team):
    target = _membership(bob, team)
    response = alice_client.post(_url(target), {"role": "viewer"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == "viewer"


def test_it_can_make_another_owner(alice_client, bob, team):
    target = _membership(bob, team)
    alice_client.post(_url(target), {"role": "owner"})
    target.refresh_from_db()
    assert target.is_owner


def test_it_rejects_an_unknown_role(alice_client, bob, team):
    target = _membership(bob, team)
    alice_client.post(_url(target), {"role": "admin"})
    target.refresh_from_db()
    assert target.role == "member"


def test_it_protects_the_last_owner(alice_client, alice, team):
    own = _membership(alice, team)
    response = alice_client.post(_url(own), {"role": "member"}, follow=True)
    assert "at least one owner" in response.content.decode()
    own.refresh_from_db()
    assert own.is_owner


def test_an_owner_can_step_down_when_another_owner_remains(alice_client, alice, bob, team):
    Membership.objects.filter(user=bob, team=team).update(role="owner")
    own = _membership(alice, team)
    alice_client.post(_url(own), {"role": "member"})
    own.refresh_from_db()
    assert own.role == "member"


def test_it_requires_owner(bob_client, victor, team):
    target = _membership(victor, team)
    assert bob_client.post(_url(target), {"role": "owner"}).status_code == 403
    target.refresh_from_db()
    assert target.role == "viewer"


def test_it_checks_membership(charlie_client, bob, team):
    target = _membership(bob, team)
    assert charlie_client.post(_url(target), {"role": "viewer"}).status_code == 404


def test_it_checks_the_membership_belongs_to_the_team(
    charlie_client, charlie, bob, team, other_team
):
    target = _membership(bob, team)
    url = reverse("accounts:member_role", args=[other_team.pk, target.pk])
    assert charlie_client.post(url, {"role": "viewer"}).status_code == 404
    target.refresh_from_db()
    assert target.role == "member"


def test_it_is_post_only(alice_client, bob, team):
    assert alice_client.get(_url(_membership(bob, team))).status_code == 405


def test_it_leaves_other_teams_alone(alice_client, alice, charlie, other_team, team):
    make_membership(other_team, alice)
    theirs = _membership(charlie, other_team)
    assert alice_client.post(_url(theirs), {"role": "viewer"}).status_code == 403
    theirs.refresh_from_db()
    assert theirs.role == "owner"
