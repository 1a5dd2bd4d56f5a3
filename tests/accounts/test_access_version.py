"""User.access_version goes up with every change that may revoke access, inside the change's own
transaction (accounts.access.bump_access_version, accounts.signals), and with nothing else."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import access
from accounts.models import Membership, User
from chat.models import Conversation
from tests.factories import PASSWORD, make_conversation, make_membership, make_team

NEW_PASSWORD = "a-new-and-long-password-42"


@pytest.fixture
def bobs_membership(team, bob) -> Membership:
    return Membership.objects.get(team=team, user=bob)


@pytest.fixture
def shared(team, alice) -> Conversation:
    return make_conversation(team, alice, title="Shared", is_shared=True)


@pytest.fixture
def everyone(alice, bob, charlie, victor, team, other_team) -> list[User]:
    """Acme's three members and charlie, who is in a team of his own."""
    return [alice, bob, charlie, victor]


def _versions(users: list[User]) -> dict[str, int]:
    return {user.username: access.access_version(user.pk) for user in users}


def _bumped(users: list[User], change: Callable[[], object], capture) -> set[str]:
    """Run `change` in a transaction and return who got a new version, as read before the
    transaction ends and before any on-commit callback runs."""
    before = _versions(users)
    with capture(execute=False), transaction.atomic():
        change()
        after = _versions(users)
    return {name for name, version in after.items() if version != before[name]}


def test_bump_for_users_and_a_team(everyone, team, alice, bob, charlie):
    access.bump_access_version(user_ids=[charlie.pk])
    access.bump_access_version(team_id=team.pk)
    access.bump_access_version(user_ids=[bob.pk, bob.pk], team_id=team.pk)
    assert _versions(everyone) == {"alice": 2, "bob": 2, "charlie": 1, "victor": 2}


def test_bump_for_nobody_costs_nothing(everyone, django_assert_num_queries):
    with django_assert_num_queries(0):
        access.bump_access_version()
        access.bump_access_version(user_ids=[])
    assert set(_versions(everyone).values()) == {0}


def test_a_gone_user_reads_zero(bob):
    access.bump_access_version(user_ids=[bob.pk])
    assert access.access_version(bob.pk) == 1
    pk = bob.pk
    bob.delete()
    assert access.access_version(pk) == 0


@pytest.mark.parametrize(
    "engine",
    [
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.signed_cookies",  # no session row to delete
    ],
)
def test_logging_out(engine, settings, bob, everyone, django_capture_on_commit_callbacks):
    settings.SESSION_ENGINE = engine
    bob_client = Client()
    bob_client.force_login(bob)

    def change():
        assert bob_client.post(reverse("accounts:logout")).status_code == 302

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob"}


def test_the_password_change_page(bob_client, everyone, django_capture_on_commit_callbacks):
    data = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}

    def change():
        assert bob_client.post(reverse("accounts:password_change"), data).status_code == 302

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob"}


def test_set_password_and_save(bob, everyone, django_capture_on_commit_callbacks):
    def change():
        bob.set_password(NEW_PASSWORD)
        bob.save(update_fields=["password"])

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob"}


def test_deactivating_a_user(bob, everyone, django_capture_on_commit_callbacks):
    def change():
        bob.is_active = False
        bob.save(update_fields=["is_active"])

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob"}


@pytest.mark.parametrize("role", ["viewer", "owner"])
def test_changing_a_role(bobs_membership, everyone, role, django_capture_on_commit_callbacks):
    def change():
        bobs_membership.role = role
        bobs_membership.save()

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob"}


def test_the_team_page_changing_a_role(
    alice_client, team, bobs_membership, everyone, django_capture_on_commit_callbacks
):
    url = reverse("accounts:member_role", args=[team.pk, bobs_membership.pk])

    def change():
        assert alice_client.post(url, {"role": "viewer"}).status_code == 302

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob"}
    bobs_membership.refresh_from_db()
    assert bobs_membership.role == "viewer"


def test_deleting_a_membership(bobs_membership, everyone, django_capture_on_commit_callbacks):
    assert _bumped(everyone, bobs_membership.delete, django_capture_on_commit_callbacks) == {"bob"}


def test_moving_a_membership_to_another_user(
    bobs_membership, charlie, everyone, django_capture_on_commit_callbacks
):
    def change():
        bobs_membership.user = charlie
        bobs_membership.save()

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob", "charlie"}


def test_moving_a_membership_to_another_team(
    bobs_membership, other_team, everyone, django_capture_on_commit_callbacks
):
    def change():
        bobs_membership.team = other_team
        bobs_membership.save(update_fields=["team"])

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob"}


def test_unsharing_a_conversation(shared, everyone, django_capture_on_commit_callbacks):
    def change():
        shared.is_shared = False
        shared.save(update_fields=["is_shared"])

    # Every member of its team; charlie's team has nothing to do with it.
    expected = {"alice", "bob", "victor"}
    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == expected


def test_the_unshare_view(alice_client, shared, everyone, django_capture_on_commit_callbacks):
    def change():
        assert alice_client.post(reverse("chat:unshare", args=[shared.pk])).status_code == 302

    expected = {"alice", "bob", "victor"}
    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == expected


def test_moving_a_conversation_to_another_team(
    shared, other_team, everyone, django_capture_on_commit_callbacks
):
    def change():
        shared.team = other_team
        shared.save()

    # The members of both teams: the old one loses it.
    expected = {"alice", "bob", "charlie", "victor"}
    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == expected


def test_deleting_a_conversation(shared, everyone, django_capture_on_commit_callbacks):
    expected = {"alice", "bob", "victor"}
    assert _bumped(everyone, shared.delete, django_capture_on_commit_callbacks) == expected


def test_deleting_a_team(team, shared, everyone, django_capture_on_commit_callbacks):
    make_conversation(team, shared.created_by, title="Private")
    expected = {"alice", "bob", "victor"}
    assert _bumped(everyone, team.delete, django_capture_on_commit_callbacks) == expected


def test_deleting_a_team_bumps_once_per_member_not_per_object(team, alice):
    for number in range(5):
        make_conversation(team, alice, title=f"Chat {number}", is_shared=True)
    with CaptureQueriesContext(connection) as queries:
        team.delete()
    bumps = [q for q in queries.captured_queries if '"access_version"' in q["sql"]]
    assert len(bumps) == 3  # alice's, bob's and victor's memberships


def test_deleting_a_user_with_a_shared_conversation(
    shared, alice, bob, charlie, victor, django_capture_on_commit_callbacks
):
    # alice's conversation goes with her: her teammates lose it.
    assert _bumped([bob, charlie, victor], alice.delete, django_capture_on_commit_callbacks) == {
        "bob",
        "victor",
    }


def test_deleting_a_session_row(bob_client, everyone, django_capture_on_commit_callbacks):
    key = bob_client.session.session_key

    def change():
        assert Session.objects.filter(session_key=key).delete()[0] == 1

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob"}


def test_clearsessions(bob_client, everyone, django_capture_on_commit_callbacks):
    Session.objects.filter(session_key=bob_client.session.session_key).update(
        expire_date=timezone.now() - timezone.timedelta(days=1)
    )

    def change():
        SessionStore.clear_expired()

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == {"bob"}


def test_sessions_without_a_user_bump_nobody(everyone, django_capture_on_commit_callbacks):
    anonymous = SessionStore()
    anonymous["seen"] = True
    anonymous.create()
    garbage = Session.objects.create(
        session_key="x" * 32, session_data="not signed", expire_date=timezone.now()
    )
    forged = SessionStore()
    forged["_auth_user_id"] = "not-an-id"
    forged.create()

    def change():
        Session.objects.filter(
            session_key__in=[anonymous.session_key, garbage.session_key, forged.session_key]
        ).delete()

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == set()
    assert not Session.objects.exists()


def test_changes_that_revoke_nothing(
    client, alice_client, alice, bob, team, shared, bobs_membership, everyone,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    def change():
        shared.title = "Renamed"
        shared.save()
        shared.save(update_fields=["title"])
        assert alice_client.post(reverse("accounts:theme"), {"theme": "dark"}).status_code == 204
        bob.first_name = "Bob"
        bob.save()  # every field saved, password and is_active unchanged
        bob.is_active = True
        bob.save(update_fields=["is_active"])
        bobs_membership.save()
        make_conversation(team, bob, is_shared=True)
        make_membership(make_team("New"), bob)
        login = {"username": "bob", "password": PASSWORD}
        assert client.post(reverse("accounts:login"), login).status_code == 302

    assert _bumped(everyone, change, django_capture_on_commit_callbacks) == set()
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert alice.theme == "dark"
    assert bob.last_login is not None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["user", "membership", "conversation"])
def test_a_save_outside_any_transaction_commits_with_its_bump(
    kind, bob, bobs_membership, shared, monkeypatch
):
    """Outside an atomic block Django would commit the save before post_save: the change and
    its bump would be two transactions. A bump that fails takes the change back with it."""
    obj, field, value = {
        "user": (bob, "is_active", False),
        "membership": (bobs_membership, "role", "viewer"),
        "conversation": (shared, "is_shared", False),
    }[kind]

    def bump(**kwargs) -> None:
        raise RuntimeError("the bump failed")

    monkeypatch.setattr(access, "bump_access_version", bump)
    assert not transaction.get_connection().in_atomic_block
    setattr(obj, field, value)
    with pytest.raises(RuntimeError, match="the bump failed"):
        obj.save()
    obj.refresh_from_db()
    assert getattr(obj, field) != value
