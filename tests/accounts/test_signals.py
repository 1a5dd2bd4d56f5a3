"""Every path that changes access tells the open sockets, after the change commits: the
team and chat views, the Django admin, a shell. Each test listens on the in-memory channel
layer's group the consumers join, as a socket would."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.sessions.backends.db import SessionStore
from django.urls import reverse

from accounts import live
from accounts.models import Membership
from tests.factories import make_conversation, make_membership, make_pin, make_team

ACCESS_CHANGED = "access.changed"
NEW_PASSWORD = "a-new-and-long-password-42"


class Listener:
    """A channel in `group`, like an open socket's."""

    def __init__(self, group: str) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        async_to_sync(self.layer.group_add)(group, self.channel)

    def events(self) -> list[str]:
        """The types of the events received so far: everything sent before a marker sent
        now (the in-memory layer keeps order), so an empty list proves nothing was sent."""
        async_to_sync(self.layer.send)(self.channel, {"type": "marker"})
        types = []
        while (event := async_to_sync(self._receive)())["type"] != "marker":
            types.append(event["type"])
        return types

    async def _receive(self) -> dict:
        return await asyncio.wait_for(self.layer.receive(self.channel), 10)


@pytest.fixture(autouse=True)
def _fresh_layer():
    yield
    async_to_sync(get_channel_layer().flush)()


@pytest.fixture
def admin_client(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(alice)
    return client


@pytest.fixture
def bobs_membership(team, bob):
    return Membership.objects.get(team=team, user=bob)


@pytest.fixture
def shared(team, alice):
    return make_conversation(team, alice, title="Shared", is_shared=True)


def _told_after_commit(listener: Listener, change, capture) -> list[str]:
    """Run `change`, check nothing is sent before its transaction commits, and return what
    is sent when it does."""
    with capture(execute=True):
        change()
        assert listener.events() == []
    return listener.events()


def test_the_admin_deleting_a_membership(
    admin_client, bobs_membership, bob, django_capture_on_commit_callbacks
):
    bobs_tabs = Listener(live.user_group(bob.pk))
    url = reverse("admin:accounts_membership_delete", args=[bobs_membership.pk])

    def change():
        assert admin_client.post(url, {"post": "yes"}).status_code == 302

    assert _told_after_commit(bobs_tabs, change, django_capture_on_commit_callbacks) == [
        ACCESS_CHANGED
    ]
    assert not Membership.objects.filter(pk=bobs_membership.pk).exists()


def test_the_admin_changing_a_role(
    admin_client, bobs_membership, bob, team, django_capture_on_commit_callbacks
):
    bobs_tabs = Listener(live.user_group(bob.pk))
    url = reverse("admin:accounts_membership_change", args=[bobs_membership.pk])
    data = {"user": bob.pk, "team": team.pk, "role": "viewer"}

    def change():
        assert admin_client.post(url, data).status_code == 302

    assert _told_after_commit(bobs_tabs, change, django_capture_on_commit_callbacks) == [
        ACCESS_CHANGED
    ]
    bobs_membership.refresh_from_db()
    assert bobs_membership.role == "viewer"


def test_the_admin_saving_a_membership_unchanged(
    admin_client, bobs_membership, bob, team, django_capture_on_commit_callbacks
):
    bobs_tabs = Listener(live.user_group(bob.pk))
    url = reverse("admin:accounts_membership_change", args=[bobs_membership.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"user": bob.pk, "team": team.pk, "role": "member"})
    assert response.status_code == 302
    assert bobs_tabs.events() == []


def test_the_admin_unsharing_a_conversation(
    admin_client, shared, django_capture_on_commit_callbacks
):
    tabs = Listener(shared.group_name)
    url = reverse("admin:chat_conversation_change", args=[shared.pk])
    data = {  # "is_shared" unticked
        "title": "Shared",
        "model": shared.model,
        "system_prompt": "",
        "temperature": "",
        "messages-TOTAL_FORMS": "0",
        "messages-INITIAL_FORMS": "0",
    }

    def change():
        assert admin_client.post(url, data).status_code == 302

    assert _told_after_commit(tabs, change, django_capture_on_commit_callbacks) == [ACCESS_CHANGED]
    shared.refresh_from_db()
    assert not shared.is_shared


def test_the_admin_renaming_a_conversation_tells_nobody(
    admin_client, shared, django_capture_on_commit_callbacks
):
    tabs = Listener(shared.group_name)
    url = reverse("admin:chat_conversation_change", args=[shared.pk])
    data = {
        "title": "Renamed",
        "model": shared.model,
        "system_prompt": "",
        "temperature": "",
        "is_shared": "on",
        "messages-TOTAL_FORMS": "0",
        "messages-INITIAL_FORMS": "0",
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url, data).status_code == 302
    shared.refresh_from_db()
    assert shared.title == "Renamed"
    assert tabs.events() == []


def test_the_admin_deleting_a_conversation(
    admin_client, shared, django_capture_on_commit_callbacks
):
    tabs = Listener(shared.group_name)
    url = reverse("admin:chat_conversation_delete", args=[shared.pk])

    def change():
        assert admin_client.post(url, {"post": "yes"}).status_code == 302

    assert _told_after_commit(tabs, change, django_capture_on_commit_callbacks) == [ACCESS_CHANGED]


def test_the_admin_bulk_deleting_conversations(
    admin_client, shared, team, alice, django_capture_on_commit_callbacks
):
    other = make_conversation(team, alice, title="Other")
    listeners = [Listener(shared.group_name), Listener(other.group_name)]
    url = reverse("admin:chat_conversation_changelist")
    data = {"action": "delete_selected", "_selected_action": [shared.pk, other.pk], "post": "yes"}
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.post(url, data).status_code == 302
    assert [listener.events() for listener in listeners] == [[ACCESS_CHANGED]] * 2


def test_the_admin_changing_a_password(admin_client, bob, django_capture_on_commit_callbacks):
    bobs_tabs = Listener(live.user_group(bob.pk))
    url = reverse("admin:auth_user_password_change", args=[bob.pk])
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}

    def change():
        assert admin_client.post(url, data).status_code == 302

    assert _told_after_commit(bobs_tabs, change, django_capture_on_commit_callbacks) == [
        ACCESS_CHANGED
    ]
    bob.refresh_from_db()
    assert bob.check_password(NEW_PASSWORD)


def test_the_password_change_page(bob_client, bob, django_capture_on_commit_callbacks):
    bobs_tabs = Listener(live.user_group(bob.pk))
    data = {
        "old_password": "correct-horse-battery",
        "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    }

    def change():
        assert bob_client.post(reverse("accounts:password_change"), data).status_code == 302

    assert _told_after_commit(bobs_tabs, change, django_capture_on_commit_callbacks) == [
        ACCESS_CHANGED
    ]


def test_set_password_and_save(bob, django_capture_on_commit_callbacks):
    bobs_tabs = Listener(live.user_group(bob.pk))

    def change():
        bob.set_password(NEW_PASSWORD)
        bob.save()

    assert _told_after_commit(bobs_tabs, change, django_capture_on_commit_callbacks) == [
        ACCESS_CHANGED
    ]


def test_deactivating_a_user(bob, django_capture_on_commit_callbacks):
    bobs_tabs = Listener(live.user_group(bob.pk))

    def change():
        bob.is_active = False
        bob.save(update_fields=["is_active"])

    assert _told_after_commit(bobs_tabs, change, django_capture_on_commit_callbacks) == [
        ACCESS_CHANGED
    ]


def test_saves_that_change_no_access_tell_nobody(
    bob, alice, team, shared, bobs_membership, django_capture_on_commit_callbacks
):
    bobs_tabs = Listener(live.user_group(bob.pk))
    tabs = Listener(shared.group_name)
    with django_capture_on_commit_callbacks(execute=True):
        bob.first_name = "Bob"
        bob.save()  # everything saved, password and is_active unchanged
        bob.is_active = True
        bob.save(update_fields=["is_active"])
        bob.save(update_fields=["last_login"])
        bobs_membership.save()
        shared.title = "Renamed"
        shared.save()
        shared.save(update_fields=["title"])
        make_pin(shared, bob)
        make_conversation(team, bob, is_shared=True)  # new: no socket can have it open
        make_membership(make_team("New"), bob)  # joining: no socket of that team yet
    assert bobs_tabs.events() == []
    assert tabs.events() == []


def test_logging_out_ends_the_session_before_telling(
    bob_client, bob, monkeypatch, django_capture_on_commit_callbacks
):
    session_key = bob_client.session.session_key
    told = []

    def access_changed(group_name: str) -> None:
        told.append((group_name, SessionStore().exists(session_key)))

    monkeypatch.setattr(live, "access_changed", access_changed)
    with django_capture_on_commit_callbacks(execute=True):
        assert bob_client.post(reverse("accounts:logout")).status_code == 302
    assert told == [(live.user_group(bob.pk), False)]


def test_logging_out_tells_the_users_sockets(bob_client, bob, django_capture_on_commit_callbacks):
    bobs_tabs = Listener(live.user_group(bob.pk))
    with django_capture_on_commit_callbacks(execute=True):
        bob_client.post(reverse("accounts:logout"))
    assert bobs_tabs.events() == [ACCESS_CHANGED]


@pytest.mark.parametrize("role", ["viewer", "owner"])
def test_the_team_page_changing_a_role(
    alice_client, team, bob, bobs_membership, role, django_capture_on_commit_callbacks
):
    bobs_tabs = Listener(live.user_group(bob.pk))
    url = reverse("accounts:member_role", args=[team.pk, bobs_membership.pk])

    def change():
        alice_client.post(url, {"role": role})

    assert _told_after_commit(bobs_tabs, change, django_capture_on_commit_callbacks) == [
        ACCESS_CHANGED
    ]


def test_the_team_page_removing_a_member(
    alice_client, team, bob, bobs_membership, django_capture_on_commit_callbacks
):
    bobs_tabs = Listener(live.user_group(bob.pk))
    url = reverse("accounts:member_remove", args=[team.pk, bobs_membership.pk])

    def change():
        alice_client.post(url)

    assert _told_after_commit(bobs_tabs, change, django_capture_on_commit_callbacks) == [
        ACCESS_CHANGED
    ]


@pytest.mark.parametrize("name", ["chat:unshare", "chat:delete"])
def test_the_chat_views(alice_client, shared, name, django_capture_on_commit_callbacks):
    tabs = Listener(shared.group_name)
    url = reverse(name, args=[shared.pk])

    def change():
        assert alice_client.post(url).status_code == 302

    # Once, after commit: the views no longer tell it themselves.
    assert _told_after_commit(tabs, change, django_capture_on_commit_callbacks) == [ACCESS_CHANGED]


def test_deleting_a_team_tells_its_members_and_conversations(
    team, bob, shared, django_capture_on_commit_callbacks
):
    bobs_tabs = Listener(live.user_group(bob.pk))
    tabs = Listener(shared.group_name)
    with django_capture_on_commit_callbacks(execute=True):
        team.delete()
    assert bobs_tabs.events() == [ACCESS_CHANGED]
    assert tabs.events() == [ACCESS_CHANGED]
