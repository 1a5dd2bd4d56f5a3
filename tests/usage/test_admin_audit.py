"""Every Django admin page that can show a member's content (a conversation, a message, a
media job and its files, attachments, a ledger line naming a message) leaves an audit entry
when a site admin opens it: change pages, list pages, delete confirmations, history, and the
Team admin's conversation export. Generic: each ModelAdmin of a model that holds member
content must use accounts.admin_audit.AuditedAdmin, and this file opens each of them."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse

from accounts.admin_audit import AuditedAdmin
from accounts.models import Team, TeamOwned
from chat.models import Conversation, Message
from media_jobs.models import MediaJob
from tests.factories import make_conversation, make_job, make_message, make_team, make_user
from usage.models import AuditEntry, UsageRecord, month_of


def _holds_member_content() -> set[type[models.Model]]:
    """Team-owned models, and every model pointing at one of them, transitively (a message
    of a conversation, a file of a job, a ledger line of a message)."""
    from django.apps import apps

    found: set[type[models.Model]] = {m for m in apps.get_models() if issubclass(m, TeamOwned)}
    while True:
        more = {
            model
            for model in apps.get_models()
            if model not in found
            and any(
                (field.many_to_one or field.one_to_one)
                and field.related_model in found
                for field in model._meta.get_fields()
                if field.concrete
            )
        }  # fmt: skip
        if not more:
            return found
        found |= more


def _record(team: Team, user) -> UsageRecord:
    conversation = make_conversation(team, user)
    message = make_message(conversation, role=Message.Role.ASSISTANT, content="secret")
    return UsageRecord.objects.create(
        team=team, user=user, kind=UsageRecord.Kind.CHAT, model="m", cost=Decimal("0.1"),
        month=month_of(conversation.created_at.date()), conversation=conversation,
        message=message, status=UsageRecord.Status.SETTLED,
    )  # fmt: skip


# Makes one object of the model, owned by the user, in the team.
MAKERS: dict[type[models.Model], Callable[..., models.Model]] = {
    Conversation: lambda team, user: make_conversation(team, user, title="Bob's plans"),
    Message: lambda team, user: make_message(make_conversation(team, user), content="secret"),
    MediaJob: lambda team, user: make_job(team, user),
    UsageRecord: _record,
}


def _content_admins() -> list[type[models.Model]]:
    content = _holds_member_content()
    return sorted((m for m in admin.site._registry if m in content), key=lambda m: m._meta.label)


@pytest.fixture
def root(db):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def root_client(root):
    client = Client()
    client.force_login(root)
    return client


def test_every_admin_of_member_content_is_audited():
    content_admins = _content_admins()
    assert {Conversation, Message, MediaJob} <= set(content_admins)
    unaudited = [
        m._meta.label
        for m in content_admins
        if not isinstance(admin.site._registry[m], AuditedAdmin)
    ]
    assert unaudited == []
    # ...and each is opened below: a new one needs its maker.
    assert set(content_admins) <= set(MAKERS)


def _as(user) -> HttpRequest:
    request = HttpRequest()
    request.user = user
    return request


def _url(model: type[models.Model], view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MAKERS, ids=lambda m: m._meta.model_name)
@pytest.mark.parametrize("view", ["change", "changelist", "delete", "history"])
def test_opening_a_members_content_is_audited(model, view, root_client, root, team, bob):
    obj = MAKERS[model](team, bob)
    url = _url(model, view) if view == "changelist" else _url(model, view, obj.pk)
    response = root_client.get(url)
    if view == "delete" and not admin.site._registry[model].has_delete_permission(_as(root)):
        assert response.status_code == 403  # nothing shown, nothing logged
        assert not AuditEntry.objects.exists()
        return
    assert response.status_code == 200
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.owner) == (root, bob)
    assert entry.path == url
    assert entry.action.startswith("admin: ")
    assert entry.created_at is not None
    # The log names what was seen, without copying it: no title, no message text.
    assert "secret" not in entry.target and "Bob's plans" not in entry.target


def test_a_list_of_several_members_content_names_no_single_owner(root_client, root, team, bob):
    alice = team.memberships.get(role="owner").user
    make_conversation(team, bob)
    make_conversation(team, alice)
    root_client.get(_url(Conversation, "changelist"))
    entry = AuditEntry.objects.get()
    assert entry.owner is None
    assert entry.action == "admin: list conversations"
    assert "2" in entry.target


def test_own_content_an_empty_list_and_a_post_are_not_audited(root_client, root, bob):
    own_team = make_team("Root's", owner=root)
    own = make_conversation(own_team, root)
    assert root_client.get(_url(Conversation, "changelist")).status_code == 200
    assert root_client.get(_url(Conversation, "change", own.pk)).status_code == 200
    assert root_client.get(_url(Message, "changelist")).status_code == 200  # empty
    assert not AuditEntry.objects.exists()


def test_the_team_export_is_audited(root_client, root, team, bob):
    make_conversation(team, bob, title="Bob's plans")
    data = {"action": "export_teams_json", "_selected_action": [team.pk]}
    response = root_client.post(reverse("admin:accounts_team_changelist"), data)
    assert response.status_code == 200
    assert response.streaming
    entry = AuditEntry.objects.get()
    assert entry.actor == root
    assert entry.action == "admin: export team conversations"
    assert f"team {team.pk}" in entry.target
