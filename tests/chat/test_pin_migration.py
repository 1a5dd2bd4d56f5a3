"""chat 0002/0003: the pin stored on a conversation becomes its creator's pin, and back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("chat", "0001_initial")]
AFTER = [("chat", "0003_remove_conversation_is_pinned")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_each_pin_stays_with_the_conversations_creator():
    old = _migrate(BEFORE)
    User = old.get_model("accounts", "User")
    Team = old.get_model("accounts", "Team")
    Conversation = old.get_model("chat", "Conversation")
    alice = User.objects.create(username="alice")
    bob = User.objects.create(username="bob")
    team = Team.objects.create(name="Acme")
    pinned = Conversation.objects.create(
        team=team, created_by=alice, is_pinned=True, is_shared=True
    )
    bobs = Conversation.objects.create(team=team, created_by=bob, is_pinned=True)
    Conversation.objects.create(team=team, created_by=alice, is_pinned=False)

    new = _migrate(AFTER)
    Pin = new.get_model("chat", "Pin")
    pins = set(Pin.objects.values_list("conversation_id", "user_id"))
    assert pins == {(pinned.pk, alice.pk), (bobs.pk, bob.pk)}

    old = _migrate(BEFORE)
    Conversation = old.get_model("chat", "Conversation")
    assert set(Conversation.objects.filter(is_pinned=True).values_list("pk", flat=True)) == {
        pinned.pk,
        bobs.pk,
    }
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
