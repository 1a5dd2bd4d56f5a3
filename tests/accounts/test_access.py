"""accounts.access and accounts.models.TeamOwned: the privacy rule, written once, generic
over team-owned models, with every id that is not one a 404."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts import access
from accounts.models import Membership, TeamOwned
from chat.models import Conversation
from tests.factories import make_conversation, make_message, make_team

ACCOUNTS = Path(__file__).resolve().parents[2] / "accounts"
PROJECT_APPS = ("chat", "media_jobs", "usage", "gateway", "demo_gateway", "config")
ABSURD_INTEGERS = [
    "1" * 40,
    str(2**63),
    2**63,
    -1,
    "-1",
    0,
    "Infinity",
    "NaN",
    1.0,
    "1.5",
    float("inf"),
    True,
    None,
    "",
    "abc",
    "\uff11",  # fullwidth digit one
    "\u0661",  # Arabic-Indic digit one
    [1],
    {"a": 1},
]
ABSURD_UUIDS = ["1" * 40, "Infinity", -1, 1.5, float("nan"), None, "", "not-a-uuid", [1]]


@pytest.fixture
def own(team, alice):
    return make_conversation(team, alice, title="Alice's private")


@pytest.fixture
def shared(team, alice):
    return make_conversation(team, alice, title="Alice's shared", is_shared=True)


@pytest.fixture
def bobs(team, bob):
    return make_conversation(team, bob, title="Bob's private")


@pytest.fixture
def elsewhere(other_team, charlie):
    return make_conversation(other_team, charlie, title="Charlie's shared", is_shared=True)


def test_accounts_imports_no_other_project_app():
    offenders = []
    for path in ACCOUNTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in PROJECT_APPS]
    assert offenders == []


def test_conversation_gets_the_rule_by_inheriting_it():
    assert issubclass(Conversation, TeamOwned)
    assert "visible_to" not in vars(type(Conversation.objects.all()))
    assert "may_write" not in vars(Conversation)


def test_the_group_name_is_unchanged_for_conversations(own):
    assert own.group_name == f"conversation_{own.pk.hex}"


def test_visible_to_is_own_and_shared_in_the_users_teams(
    own, shared, bobs, elsewhere, bob, alice, charlie
):
    def titles(user, team=None):
        return set(Conversation.objects.visible_to(user, team).values_list("title", flat=True))

    assert titles(alice) == {"Alice's private", "Alice's shared"}
    assert titles(bob) == {"Alice's shared", "Bob's private"}
    assert titles(charlie) == {"Charlie's shared"}
    assert titles(bob, elsewhere.team) == set()


def test_visible_to_drops_a_team_the_user_left(shared, bob, team):
    Membership.objects.filter(team=team, user=bob).delete()
    assert not Conversation.objects.visible_to(bob).exists()


def test_visible_to_is_nothing_for_anonymous_users(shared):
    from django.contrib.auth.models import AnonymousUser

    assert not Conversation.objects.visible_to(AnonymousUser()).exists()


@pytest.mark.parametrize("persona", ["alice", "bob", "victor", "charlie"])
def test_the_can_write_annotation_agrees_with_may_write(
    request, persona, own, shared, bobs, elsewhere, team, victor
):
    user = request.getfixturevalue(persona)
    mine = make_conversation(team, victor, title="Victor's, from when he could write")
    rows = Conversation.objects.visible_to(user).with_can_write(user)
    assert rows.exists()
    for row in rows:
        membership = Membership.objects.get(team=row.team_id, user=user)
        assert row.can_write is row.may_write(user, membership), row.title
    if persona == "victor":
        assert [r.can_write for r in rows if r.pk == mine.pk] == [False]


def test_may_write_needs_the_objects_own_team(own, alice, other_team):
    elsewhere = Membership.objects.create(team=other_team, user=alice, role=Membership.Role.OWNER)
    assert not own.may_write(alice, elsewhere)
    assert not own.may_write(alice, None)


def test_get_for_user_returns_the_object_and_membership(shared, bob):
    conversation, membership = access.get_for_user(bob, Conversation, shared.pk)
    assert conversation == shared
    assert (membership.user, membership.team, membership.role) == (bob, shared.team, "member")


def test_get_for_user_takes_a_queryset(shared, bob):
    narrowed = Conversation.objects.filter(title="Something else")
    with pytest.raises(Http404):
        access.get_for_user(bob, narrowed, shared.pk)
    assert access.get_for_user(bob, Conversation.objects.all(), str(shared.pk))[0] == shared


@pytest.mark.parametrize("persona", ["bob", "charlie"])
def test_get_for_user_hides_what_the_user_may_not_read(request, persona, own):
    with pytest.raises(Http404):
        access.get_for_user(request.getfixturevalue(persona), Conversation, own.pk)


def test_get_rw_for_user_is_403_only_for_what_the_user_can_read(shared, own, bob, alice):
    with pytest.raises(PermissionDenied):
        access.get_rw_for_user(bob, Conversation, shared.pk)
    with pytest.raises(Http404):
        access.get_rw_for_user(bob, Conversation, own.pk)
    assert access.get_rw_for_user(alice, Conversation, own.pk)[0] == own


@pytest.mark.django_db(transaction=True)
async def test_the_async_variants(team, alice, bob):
    from channels.db import database_sync_to_async

    shared = await database_sync_to_async(make_conversation)(team, alice, is_shared=True)
    conversation, membership = await access.aget_for_user(bob, Conversation, shared.pk)
    assert (conversation, membership.user_id) == (shared, bob.pk)
    assert (await access.aget_rw_for_user(alice, Conversation, shared.pk))[0] == shared
    with pytest.raises(PermissionDenied):
        await access.aget_rw_for_user(bob, Conversation, shared.pk)
    with pytest.raises(Http404):
        await access.aget_for_user(bob, Conversation, uuid.uuid4())


@pytest.mark.parametrize("value", ABSURD_UUIDS, ids=repr)
def test_absurd_conversation_ids_are_404(alice, own, value):
    with pytest.raises(Http404):
        access.get_for_user(alice, Conversation, value)


@pytest.mark.parametrize("value", ABSURD_INTEGERS, ids=repr)
def test_absurd_team_ids_are_404(alice, team, value):
    with pytest.raises(Http404):
        access.get_membership(alice, value)


@pytest.mark.parametrize("value", ABSURD_INTEGERS, ids=repr)
def test_absurd_child_ids_are_404(own, value):
    make_message(own)
    with pytest.raises(Http404):
        access.get_child(own, "messages", value)


def test_get_child_stays_under_its_parent(own, shared):
    message = make_message(shared)
    assert access.get_child(shared, "messages", str(message.pk)) == message
    with pytest.raises(Http404):
        access.get_child(own, "messages", message.pk)


def test_the_current_membership_falls_back_to_the_first_team(alice, team, other_team):
    later = make_team("Later", owner=alice)
    assert access.get_current_membership(alice, later.pk).team == later
    assert access.get_current_membership(alice, other_team.pk).team == team  # not hers
    assert access.get_current_membership(alice, "1" * 40).team == team
    assert access.get_current_membership(alice, None).team == team


def test_the_current_membership_is_none_without_a_team(charlie):
    assert access.get_current_membership(charlie) is None


def test_find_invite(team, alice):
    invite = team.invites.create(created_by=alice)
    assert access.find_invite(invite.token) == invite
    assert access.find_invite("nope") is None
    assert access.find_invite("") is None


def test_the_sidebar_template_does_not_rederive_the_write_rule():
    sidebar = ACCOUNTS.parent / "templates" / "chat" / "conversation_list.html"
    assert "created_by_id == user.pk" not in sidebar.read_text()
