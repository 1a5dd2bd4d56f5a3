"""The invite sign-up is no list of usernames. Without a usable invite, a sign-up answers
the same whether the name exists or not (nothing is validated). With one, the invitee is told
a name is taken (they must pick another), but a leaked link is no unlimited oracle: after
SIGNUP_NAME_TRIES names refused in a window, the invite's sign-up answers 429 whatever
the name, until the window ends."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import ratelimit
from accounts.models import Invite, User

PASSWORD = "a-long-passphrase-42"


@pytest.fixture
def invite(team, alice):
    return Invite.objects.create(team=team, role="viewer", created_by=alice)


def _signup(client, token: str, username: str):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("accounts:invite_accept", args=[token]), data)


def _page(response) -> tuple[int, str]:
    # Each response masks the CSRF token anew: the one difference allowed.
    html = re.sub(r"[A-Za-z0-9]{64}", "<csrf>", response.content.decode())
    return response.status_code, html


def _use(invite, by) -> None:
    Invite.objects.filter(pk=invite.pk).update(used_at=timezone.now(), used_by=by)


def _expire(invite, by) -> None:
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.parametrize("spoil", [None, _use, _expire], ids=["unknown", "used", "expired"])
def test_without_a_usable_invite_a_taken_name_looks_like_a_free_one(
    client, invite, alice, bob, spoil
):
    token = "not-a-token" if spoil is None else invite.token
    if spoil is not None:
        spoil(invite, alice)
    taken = _page(_signup(Client(), token, "bob"))
    free = _page(_signup(Client(), token, "nobody-has-this"))
    assert taken == free
    assert taken[0] in (404, 410)
    assert "bob" not in taken[1]


def test_the_invitee_is_told_a_name_is_taken(client, invite, bob):
    response = _signup(client, invite.token, "bob")
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_a_leaked_invite_is_no_unlimited_oracle(client, invite, bob, team, alice):
    for _ in range(ratelimit.SIGNUP_NAME_TRIES):
        assert _signup(Client(), invite.token, "bob").status_code == 200
    for name in ("bob", "alice", "free-name"):  # taken or not: the same answer now
        response = _signup(Client(), invite.token, name)
        assert response.status_code == 429
        assert "Too many" in response.content.decode()
        assert "already exists" not in response.content.decode()
        assert 0 < int(response["Retry-After"]) <= ratelimit.WINDOW_SECONDS
    assert not User.objects.filter(username="free-name").exists()
    # Another invite of the team is not held back.
    other = Invite.objects.create(team=team, role="viewer", created_by=alice)
    assert _signup(Client(), other.token, "dora").status_code == 302


def test_a_mistyped_password_does_not_count(client, invite):
    for _ in range(ratelimit.SIGNUP_NAME_TRIES + 1):
        data = {"username": "dora", "password1": PASSWORD, "password2": "other"}
        response = client.post(reverse("accounts:invite_accept", args=[invite.token]), data)
        assert response.status_code == 200
    assert _signup(client, invite.token, "dora").status_code == 302
