"""Reply ends stored together (services.finish_replies: the batch chat.streaming's final saves
make when they queue behind each other): one transaction for all of them, a small constant
number of queries per end, each end its own outcome, and what is stored and charged the same
as ending each alone."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext

from chat import services
from chat.models import Conversation, Message
from chat.threads import settled_cost
from gateway.types import Usage
from tests.factories import make_conversation
from tests.usage.ledger import assert_ledger_balances
from usage import services as money
from usage.models import MemberMonth, Price, TeamMonth, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

# Per end in a batch: its charge's SAVEPOINT, its record's UPDATE and RELEASE SAVEPOINT (its
# row's UPDATE is one more run of the batch's one executemany). Everything else is per batch.
QUERIES_PER_END = 3
# One end alone: BEGIN, its row locked, its record, the prices, its charge (3), the two
# counters, its row, its conversation, its cost, its siblings, COMMIT.
QUERIES_FOR_ONE = 14

USAGE = Usage(prompt_tokens=17, completion_tokens=240, total_tokens=257)


@pytest.fixture(autouse=True)
def price(db):
    return Price.objects.create(
        model="gpt-4o-mini", prompt_per_1k=Decimal(1), completion_per_1k=Decimal(2)
    )


@pytest.fixture(autouse=True)
def _many_replies_at_once(settings):
    settings.MAX_CONCURRENT_REPLIES = 100


def _replies(team, user, count: int) -> list[int]:
    """`count` replies streaming, each in a conversation of its own, their charges reserved."""
    return [
        services.begin_reply(
            conversation_id=make_conversation(team, user).pk, user=user, action="send", text="Go"
        ).assistant_id
        for _ in range(count)
    ]


def _end(message_id: int, **changes) -> services.ReplyEnd:
    end = {
        "content": "word " * 50,
        "html": "<p>words</p>",
        "status": Message.Status.COMPLETE,
        "finish_reason": "stop",
        "usage": USAGE,
        "ttft_ms": 40,
        "duration_ms": 900,
    }
    return services.ReplyEnd(message_id=message_id, **{**end, **changes})


def _statements(sqls: list[str], word: str) -> int:
    return sum(1 for sql in sqls if sql.split(" ", 1)[0].upper() == word)


def _finish_counted(ends: list[services.ReplyEnd]) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        outcomes = services.finish_replies(ends)
    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    return [query["sql"] for query in queries.captured_queries]


def test_ends_together_are_one_transaction_and_a_few_queries_each(team, alice):
    _replies(team, alice, 1)  # the month's counters exist: not what this compares
    alone = _finish_counted([_end(pk) for pk in _replies(team, alice, 1)])
    together = _finish_counted([_end(pk) for pk in _replies(team, alice, 12)])

    for sqls in (alone, together):
        assert _statements(sqls, "BEGIN") == _statements(sqls, "COMMIT") == 1
    assert len(alone) == QUERIES_FOR_ONE
    assert len(together) == QUERIES_FOR_ONE + 11 * QUERIES_PER_END
    # Ended one by one, 12 replies take 12 transactions of QUERIES_FOR_ONE.
    print(f"\n12 ends: {len(together)} queries together, {12 * len(alone)} one by one")


def test_a_gone_reply_fails_alone(team, alice):
    first, gone, last = _replies(team, alice, 3)
    Conversation.objects.filter(messages=gone).delete()

    outcomes = services.finish_replies([_end(first), _end(gone), _end(last)])

    assert isinstance(outcomes[1], Message.DoesNotExist)
    for outcome, pk in ((outcomes[0], first), (outcomes[2], last)):
        assert not isinstance(outcome, Exception) and outcome.message.pk == pk
        assert Message.objects.get(pk=pk).status == Message.Status.COMPLETE
        assert UsageRecord.objects.get(message_id=pk).status == UsageRecord.Status.SETTLED
    assert_ledger_balances(team)


def test_a_charge_the_database_refuses_keeps_its_text_and_spares_the_others(
    team, alice, monkeypatch
):
    first, refused, estimated = _replies(team, alice, 3)
    charge = money.ReplyCharges.charge

    def refusing(self, message_id, **kwargs):
        # `refused` cannot be charged at all; `estimated` not with the gateway's counts.
        if message_id == refused or (message_id == estimated and kwargs["prompt_tokens"]):
            raise DataError("numeric field overflow")
        return charge(self, message_id, **kwargs)

    monkeypatch.setattr(money.ReplyCharges, "charge", refusing)

    outcomes = services.finish_replies([_end(pk) for pk in (first, refused, estimated)])

    assert not [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert {m.content for m in Message.objects.filter(pk__in=[first, refused, estimated])} == {
        "word " * 50
    }
    records = {r.message_id: r for r in UsageRecord.objects.filter(team=team)}
    assert records[first].status == UsageRecord.Status.SETTLED and not records[first].estimated
    assert records[refused].status == UsageRecord.Status.RESERVED  # the sweep charges it later
    assert records[estimated].status == UsageRecord.Status.SETTLED and records[estimated].estimated
    assert_ledger_balances(team)


def _ended_variously(team, user) -> list[services.ReplyEnd]:
    """Ends of every kind, in a team: complete with the gateway's counts, stopped with text
    and no counts (estimated), interrupted having delivered nothing (refunded), failed, a
    regenerated reply (it has a sibling), and one a sweep ended while its process lived (its
    charge corrected)."""
    complete, stopped, empty, failed, swept = _replies(team, user, 5)
    first = _replies(team, user, 1)[0]
    services.finish_reply(**vars(_end(first)))
    regenerated = services.begin_reply(
        conversation_id=Message.objects.get(pk=first).conversation_id,
        user=user,
        action="regenerate",
        message_id=first,
    ).assistant_id
    services.checkpoint_reply(message_id=swept, content="abcd" * 10)
    assert services.interrupt_reply(Message.objects.get(pk=swept), error="gone")
    return [
        _end(complete, reasoning="thought"),
        _end(stopped, status=Message.Status.STOPPED, finish_reason=None, usage=None),
        _end(empty, content="", status=Message.Status.INTERRUPTED, usage=None, ttft_ms=None),
        _end(failed, status=Message.Status.FAILED, usage=None, error="The gateway refused."),
        _end(regenerated, content="again " * 30),
        _end(swept, content="abcd" * 100),
    ]


MESSAGE_FIELDS = [name for name in services.END_FIELDS if name != "updated_at"]
RECORD_FIELDS = [
    "kind", "model", "status", "cost", "reserved", "estimated", "default_price",
    "prompt_tokens", "completion_tokens",
]  # fmt: skip


class ChargedOneByOne:
    """money.ReplyCharges as finish_reply charged before ends were grouped: each reply
    through charge_reply_of (its own reads, settle's own counter UPDATEs)."""

    @classmethod
    def for_replies(cls, message_ids: list[int]) -> ChargedOneByOne:
        return cls()

    def charge(self, message_id: int, **kwargs) -> bool:
        return money.charge_reply_of(message_id, **kwargs)

    def release(self) -> None:
        pass


def _stored(item, end: services.ReplyEnd) -> dict:
    message = Message.objects.annotate(cost=settled_cost()).get(pk=item.message.pk)
    versions = Message.objects.filter(conversation=message.conversation, parent=message.parent)
    assert item.sibling_ids == list(
        versions.order_by("created_at", "pk").values_list("pk", flat=True)
    )
    assert item.message.settled_cost == message.cost
    assert (message.content, message.status, message.html) == (end.content, end.status, end.html)
    records = UsageRecord.objects.filter(message=message).order_by("pk")
    return {
        "message": {name: getattr(message, name) for name in MESSAGE_FIELDS},
        "item": (item.message.status, item.message.settled_cost, len(item.sibling_ids)),
        "records": [{name: getattr(r, name) for name in RECORD_FIELDS} for r in records],
    }


def _counters(team) -> list[tuple]:
    return [
        *TeamMonth.objects.filter(team=team).values_list("month", "spent", "reserved"),
        *MemberMonth.objects.filter(team=team).values_list("month", "spent", "reserved"),
    ]


def test_ends_together_store_and_charge_what_ends_alone_did(
    team, alice, other_team, charlie, monkeypatch
):
    together, alone = _ended_variously(team, alice), _ended_variously(other_team, charlie)

    items = services.finish_replies(together)
    with monkeypatch.context() as patched:
        patched.setattr(money, "ReplyCharges", ChargedOneByOne)
        twins = [services.finish_reply(**vars(end)) for end in alone]

    assert [_stored(item, end) for item, end in zip(items, together, strict=True)] == [
        _stored(item, end) for item, end in zip(twins, alone, strict=True)
    ]
    assert _counters(team) == _counters(other_team)
    corrections = [
        list(UsageRecord.objects.filter(team=t, kind=UsageRecord.Kind.CORRECTION).values("cost"))
        for t in (team, other_team)
    ]
    assert corrections[0] == corrections[1] and len(corrections[0]) == 1
    assert_ledger_balances(team)
    assert_ledger_balances(other_team)
