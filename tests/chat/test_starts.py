"""chat.starts: reply starts taken together, one transaction, reads shared, each its own outcome."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.access import access_version
from accounts.models import Membership
from chat import services
from chat.models import Conversation, Message
from chat.starts import Checked, StartRequest, begin_replies
from tests.factories import make_conversation, make_membership, make_user
from usage.models import MemberMonth, Price, TeamBudget, TeamMonth, UsageRecord

pytestmark = pytest.mark.django_db


def _checked(user, team) -> Checked:
    role = Membership.objects.get(user=user, team=team).role
    return Checked(access_version(user.pk), role, timezone.now() + timedelta(days=1))


def _send(conversation, user, text="Hello there", *, checked=None, **options) -> StartRequest:
    return StartRequest(
        conversation_id=conversation.pk,
        user=user,
        action="send",
        session_key=None,
        checked=checked if checked is not None else _checked(user, conversation.team),
        options={"text": text, **options},
    )


def _members(team, count, prefix="member"):
    users = [make_user(f"{prefix}{i}") for i in range(count)]
    for user in users:
        make_membership(team, user)
    return users


def _sends(team, count, text="Hello there"):
    return [
        _send(make_conversation(team, user, title=""), user, f"{text} {i}")
        for i, user in enumerate(_members(team, count, prefix=text.split()[0]))
    ]


def _statements(requests) -> tuple[list, int]:
    with CaptureQueriesContext(connection) as queries:
        outcomes = begin_replies(requests)
    return outcomes, len(queries.captured_queries)


def test_plain_sends_taken_together_cost_the_same_statements_at_any_count(team):
    begin_replies(_sends(team, 1, "warm"))  # the team's month counter is made
    two, at_two = _statements(_sends(team, 2, "first"))
    ten, at_ten = _statements(_sends(team, 10, "second"))
    assert all(isinstance(start, services.ReplyStart) for start in two + ten)
    assert at_ten == at_two
    # Users, conversations, messages, attachments, replies being written, vision rules,
    # prices, budgets, two counters read, the members' new counters made and read again,
    # two INSERTs of messages, one of records, two counter UPDATEs, one of conversations;
    # and the transaction's own two.
    assert at_ten <= 21


def test_a_start_taken_together_stores_what_begin_reply_stores(team, alice):
    together = make_conversation(team, alice, title="", system_prompt="Be brief.")
    alone = make_conversation(team, alice, title="", system_prompt="Be brief.")
    for conversation in (together, alone):
        conversation.messages.create(role=Message.Role.USER, content="Earlier", author=alice)
    [grouped] = begin_replies([_send(together, alice, "What is 2 + 2?\nSecond line")])
    single = services.begin_reply(
        conversation_id=alone.pk, user=alice, action="send", text="What is 2 + 2?\nSecond line"
    )

    def shape(start):
        conversation = Conversation.objects.get(pk=start.conversation.pk)
        record = UsageRecord.objects.get(message_id=start.assistant_id)
        rows = [
            (m.role, m.content, m.status, m.model, m.author_id, m.parent and m.parent.content)
            for m in conversation.messages.select_related("parent").order_by("pk")
        ]
        return {
            "rows": rows,
            "title": conversation.title,
            "leaf": conversation.current_leaf_id == start.assistant_id,
            "context": start.messages,
            "thread": [item.message.content for item in start.thread],
            "record": (record.status, record.reserved, record.prompt_tokens, record.model),
            "max_tokens": start.max_tokens,
            "new_title": start.new_title,
        }

    assert shape(grouped) == shape(single)
    assert grouped.new_title == "What is 2 + 2?"
    assert grouped.access_version == access_version(alice.pk)


def test_each_start_keeps_its_own_refusal(team):
    requests = _sends(team, 3)
    requests[1] = _send(
        Conversation.objects.get(pk=requests[1].conversation_id), requests[1].user, "   "
    )
    outcomes = begin_replies(requests)
    assert isinstance(outcomes[0], services.ReplyStart)
    assert isinstance(outcomes[1], ValidationError) and outcomes[1].code == "empty"
    assert isinstance(outcomes[2], services.ReplyStart)
    refused = Conversation.objects.get(pk=requests[1].conversation_id)
    assert not refused.messages.exists() and refused.current_leaf_id is None


def test_a_revoked_member_cannot_start_though_the_socket_missed_the_event(team, bob):
    conversation = make_conversation(team, bob, title="")
    checked = _checked(bob, team)  # what bob's socket checked at connect
    Membership.objects.get(user=bob, team=team).delete()  # the event never reaches the socket
    others = _sends(team, 2)
    outcomes = begin_replies([others[0], _send(conversation, bob, checked=checked), others[1]])
    assert isinstance(outcomes[1], Http404)
    assert not conversation.messages.exists()
    assert all(isinstance(outcomes[i], services.ReplyStart) for i in (0, 2))


def test_a_role_lowered_to_viewer_refuses_the_start_though_the_socket_missed_it(team, bob):
    conversation = make_conversation(team, bob, title="")
    checked = _checked(bob, team)
    membership = Membership.objects.get(user=bob, team=team)
    membership.role = Membership.Role.VIEWER
    membership.save()
    [outcome] = begin_replies([_send(conversation, bob, checked=checked)])
    assert not isinstance(outcome, services.ReplyStart)
    assert not conversation.messages.exists()


def test_a_stale_version_takes_the_full_check_and_gives_the_new_version(team, bob):
    conversation = make_conversation(team, bob, title="")
    checked = _checked(bob, team)
    bob.set_password("a new one, changed in another tab")
    bob.save()  # bumps the version; the session check is off here (no session key)
    [start] = begin_replies([_send(conversation, bob, checked=checked)])
    assert isinstance(start, services.ReplyStart)
    assert start.access_version == access_version(bob.pk) != checked.version


def test_an_expired_session_takes_the_full_check(team, bob):
    conversation = make_conversation(team, bob, title="")
    expired = Checked(access_version(bob.pk), "member", timezone.now() - timedelta(seconds=1))
    request = StartRequest(
        conversation_id=conversation.pk,
        user=bob,
        action="send",
        session_key="gone",
        checked=expired,
        options={"text": "Hi"},
    )
    [outcome] = begin_replies([request])
    assert isinstance(outcome, services.SessionEnded)


def test_the_member_cap_is_taken_in_order_within_a_batch(team, bob, settings):
    settings.MAX_CONCURRENT_REPLIES = 0  # four replies of one member at once
    Price.objects.create(
        model="gpt-4o-mini", prompt_per_1k=Decimal(1), completion_per_1k=Decimal(1)
    )
    # A reply reserves its prompt and 1,000 assumed completion tokens (about 1.0), unless
    # what is left pays for fewer than 4,096 tokens: then it is bounded to all that is left.
    TeamBudget.objects.create(team=team, monthly_limit=None, member_monthly_cap=Decimal("5.5"))
    conversations = [make_conversation(team, bob, title="") for _ in range(4)]
    outcomes = begin_replies([_send(c, bob) for c in conversations])

    first, second, third, fourth = outcomes
    assert first.max_tokens is None and second.max_tokens is None  # ~4.5, then ~3.5 left
    assert 3000 < third.max_tokens < 3500  # bounded to what the ~3.5 left pays for
    assert isinstance(fourth, ValidationError)  # nothing left
    assert "monthly budget" in " ".join(fourth.messages)
    assert not conversations[3].messages.exists()
    member = MemberMonth.objects.get(team=team, user=bob)
    records = UsageRecord.objects.filter(user=bob)
    assert records.count() == 3
    assert member.reserved == sum(r.reserved for r in records)
    assert Decimal("5.49") < member.reserved <= Decimal("5.5")
    assert TeamMonth.objects.get(team=team).reserved == member.reserved


def test_two_sends_of_one_member_count_towards_the_limit_of_replies_at_once(team, bob, settings):
    settings.MAX_CONCURRENT_REPLIES = 1
    first, second = (make_conversation(team, bob, title="") for _ in range(2))
    outcomes = begin_replies([_send(first, bob), _send(second, bob)])
    assert isinstance(outcomes[0], services.ReplyStart)
    assert isinstance(outcomes[1], ValidationError) and outcomes[1].code == "too_many_replies"


def test_a_start_the_budget_refuses_does_not_count_towards_the_limit(team, bob, settings):
    """As one by one: a refused start writes no reply, so the member's later sends in the same
    batch still have its place among the replies being written at once."""
    settings.MAX_CONCURRENT_REPLIES = 2
    role = Membership.objects.get(user=bob, team=team).role
    TeamBudget.objects.create(team=team, allowed_models={role: ["gpt-4o-mini"]})
    refused = make_conversation(team, bob, title="", model="gpt-4o")
    allowed = [make_conversation(team, bob, title="") for _ in range(2)]

    outcomes = begin_replies([_send(c, bob) for c in (refused, *allowed)])

    assert isinstance(outcomes[0], ValidationError)
    assert outcomes[0].code == "model_not_allowed"
    assert all(isinstance(outcome, services.ReplyStart) for outcome in outcomes[1:])
    assert not refused.messages.exists()


def test_a_busy_conversation_refuses_the_start(team, bob):
    conversation = make_conversation(team, bob, title="")
    conversation.messages.create(role=Message.Role.ASSISTANT, status=Message.Status.STREAMING)
    [outcome] = begin_replies([_send(conversation, bob)])
    assert isinstance(outcome, ValidationError) and outcome.code == "busy"


def test_messages_written_in_bulk_are_announced_as_saved(team):
    """Receivers of Message's post_save (search by meaning's embedder) hear of the rows a
    batch INSERTs in bulk, as they would of Message.objects.create()."""
    from django.db.models.signals import post_save

    heard = []

    def receiver(sender, instance, created, **kwargs):
        heard.append((instance.role, instance.status, created))

    post_save.connect(receiver, sender=Message, dispatch_uid="test-starts-saved")
    try:
        starts = begin_replies(_sends(team, 2))
    finally:
        post_save.disconnect(dispatch_uid="test-starts-saved", sender=Message)
    assert all(isinstance(start, services.ReplyStart) for start in starts)
    assert sorted(heard) == sorted(
        [(Message.Role.USER, Message.Status.COMPLETE, True)] * 2
        + [(Message.Role.ASSISTANT, Message.Status.STREAMING, True)] * 2
    )
