"""The Django admin's conversation and message pages log a site admin reading a member's
content; pages showing only their own content, and failed requests, do not (the
generic audit of every admin page is tested in test_admin_audit.py)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import Message
from tests.factories import make_conversation, make_message, make_team, make_user
from usage.models import AuditEntry


@pytest.fixture
def root(db):
    return make_user("root", is_staff=True, is_superuser=True)


@pytest.fixture
def root_client(root):
    client = Client()
    client.force_login(root)
    return client


def test_admin_conversation_page_is_audited(root_client, root, team, bob):
    conversation = make_conversation(team, bob, title="Bob's plans")
    url = reverse("admin:chat_conversation_change", args=[conversation.pk])
    assert root_client.get(url).status_code == 200
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.owner, entry.action) == (root, bob, "admin: view conversation")
    assert str(conversation.pk) in entry.target and entry.path == url
    assert "admin: view conversation" in root_client.get(reverse("usage:audit")).content.decode()


def test_admin_message_page_is_audited(root_client, root, team, bob):
    message = make_message(make_conversation(team, bob), role=Message.Role.ASSISTANT)
    assert (
        root_client.get(reverse("admin:chat_message_change", args=[message.pk])).status_code == 200
    )
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.owner, entry.action) == (root, bob, "admin: view message")


def test_lists_own_content_and_missing_objects_are_not_audited(root_client, root):
    own = make_conversation(make_team("Root's", owner=root), root)
    assert root_client.get(reverse("admin:chat_conversation_changelist")).status_code == 200
    assert (
        root_client.get(reverse("admin:chat_conversation_change", args=[own.pk])).status_code == 200
    )
    missing = reverse("admin:chat_message_change", args=[987654])
    assert root_client.get(missing).status_code in (200, 302)
    assert not AuditEntry.objects.exists()
