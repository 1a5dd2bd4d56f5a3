from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import SESSION_TEAM_KEY
from accounts.models import Invite, Membership, User

PASSWORD = "a-long-passphrase-42"


@pytest.fixture
def invite(team, alice):
    return Invite.objects.create(team=team, role="viewer", created_by=alice)


def _url(invite):
    return reverse("accounts:invite_accept", args=[invite.token])


def _signup(client, invite, username="dora"):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(_url(invite), data)


def test_it_shows_the_signup_form_while_logged_out(client, invite):
    response = client.get(_url(invite))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Acme" in content
    for label in ("Username", "Password", "Password confirmation"):
        assert f">{label}</label>" in content
    assert "Create account</button>" in content


def test_it_creates_an_account_with_the_invites_role(client, invite, team):
    response = _signup(client, invite)
    assert response.status_code == 302
    assert response.url == reverse("chat:home")
    dora = User.objects.get(username="dora")
    assert not dora.is_staff
    assert Membership.objects.get(user=dora).role == "viewer"
    assert client.session["_auth_user_id"] == str(dora.pk)
    assert client.session[SESSION_TEAM_KEY] == team.pk
    invite.refresh_from_db()
    assert invite.used_by == dora and invite.used_at is not None


def test_it_works_only_once(client, invite):
    _signup(client, invite)
    client.logout()
    response = _signup(client, invite, username="eve")
    assert response.status_code == 410
    assert "already used" in response.content.decode()
    assert not User.objects.filter(username="eve").exists()


def test_a_lost_race_creates_no_account(client, invite, bob):
    # The invite looked usable when loaded, but another request claims it first.
    from accounts import views

    original = views._claim_invite

    def claimed_elsewhere(invite, user):
        Invite.objects.filter(pk=invite.pk).update(used_at=timezone.now(), used_by=bob)
        return original(invite, user)

    views._claim_invite = claimed_elsewhere
    try:
        response = _signup(client, invite)
    finally:
        views._claim_invite = original
    assert response.status_code == 410
    assert not User.objects.filter(username="dora").exists()
    assert "_auth_user_id" not in client.session


def test_an_expired_invite_fails(client, invite):
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(_url(invite))
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert _signup(client, invite).status_code == 410
    assert not User.objects.filter(username="dora").exists()


def test_an_unknown_token_is_404(client, team):
    response = client.get(reverse("accounts:invite_accept", args=["nope"]))
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_it_rejects_a_taken_username(client, invite):
    response = _signup(client, invite, username="bob")
    assert response.status_code == 200
    invite.refresh_from_db()
    assert invite.used_at is None


def test_it_offers_join_to_a_signed_in_user(charlie_client, invite):
    response = charlie_client.get(_url(invite))
    assert response.status_code == 200
    content = response.content.decode()
    assert "Join team</button>" in content
    assert "Password confirmation" not in content


def test_a_signed_in_user_joins_with_the_invites_role(charlie_client, charlie, invite, team):
    response = charlie_client.post(_url(invite))
    assert response.status_code == 302
    assert Membership.objects.get(user=charlie, team=team).role == "viewer"
    assert charlie_client.session[SESSION_TEAM_KEY] == team.pk
    invite.refresh_from_db()
    assert invite.used_by == charlie


def test_a_signed_in_user_cannot_reuse_a_used_invite(charlie_client, charlie, invite, team):
    Invite.objects.filter(pk=invite.pk).update(used_at=timezone.now())
    assert charlie_client.post(_url(invite)).status_code == 410
    assert not Membership.objects.filter(user=charlie, team=team).exists()


def test_a_member_is_told_and_the_invite_stays_unused(bob_client, bob, invite, team):
    content = bob_client.get(_url(invite)).content.decode()
    assert "already a member" in content

    response = bob_client.post(_url(invite), follow=True)
    assert "already a member of Acme" in response.content.decode()
    assert Membership.objects.get(user=bob, team=team).role == "member"
    invite.refresh_from_db()
    assert invite.used_at is None
