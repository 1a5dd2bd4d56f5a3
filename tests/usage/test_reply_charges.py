"""The ends of a reply outside a live stream: the fallback fail_reply, the sweep for orphaned
replies (interrupt_reply) and usage's sweep of records left reserved (a process killed
between a reply's transition and its charge). Each charges what the stored text delivered,
in the transaction of the state change; only a reply that delivered nothing is refunded."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from chat import services as chat_services
from chat.models import Message
from tests.usage.ledger import assert_ledger_balances
from usage import services
from usage.models import Price, TeamMonth, UsageRecord

pytestmark = pytest.mark.django_db


def _reserved_reply(conversation, alice, text="Hi"):
    start = chat_services.begin_reply(
        conversation_id=conversation.pk, user=alice, action="send", text=text
    )
    return start.assistant


def _record(reply) -> UsageRecord:
    return UsageRecord.objects.get(message=reply)


def _age(record: UsageRecord, minutes: int = 5) -> None:
    """As if reserved `minutes` ago (a test's shortcut past the sweep's grace period)."""
    past = timezone.now() - datetime.timedelta(minutes=minutes)
    UsageRecord.objects.filter(pk=record.pk).update(created_at=past)


# The sweep for orphaned replies (interrupt_reply)


@pytest.mark.usefixtures("price")
def test_the_orphan_sweep_charges_the_checkpointed_text(conversation, alice, team):
    reply = _reserved_reply(conversation, alice)
    chat_services.checkpoint_reply(message_id=reply.pk, content="abcd" * 10)

    assert chat_services.interrupt_orphaned_replies() == 1

    record = _record(reply)
    assert record.status == UsageRecord.Status.SETTLED and record.estimated
    assert record.completion_tokens == 10 and record.cost > 0
    assert TeamMonth.objects.get(team=team).reserved == 0
    assert_ledger_balances(team)


@pytest.mark.usefixtures("price")
def test_the_orphan_sweep_refunds_a_reply_that_delivered_nothing(conversation, alice, team):
    reply = _reserved_reply(conversation, alice)

    assert chat_services.interrupt_orphaned_replies() == 1

    assert _record(reply).status == UsageRecord.Status.REFUNDED
    assert TeamMonth.objects.get(team=team).reserved == 0
    assert_ledger_balances(team)


@pytest.mark.usefixtures("price")
def test_interrupting_and_charging_commit_together(conversation, alice, team, monkeypatch):
    reply = _reserved_reply(conversation, alice)

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "charge_reply_of", broken)
    with pytest.raises(RuntimeError):
        chat_services.interrupt_reply(reply, error="gone")

    reply.refresh_from_db()
    assert reply.status == Message.Status.STREAMING  # the interruption rolled back too
    assert _record(reply).status == UsageRecord.Status.RESERVED


# fail_reply, the fallback when storing a reply failed


@pytest.mark.usefixtures("price")
def test_fail_reply_charges_the_checkpointed_text(conversation, alice, team):
    reply = _reserved_reply(conversation, alice)
    chat_services.checkpoint_reply(message_id=reply.pk, content="x" * 40)

    assert chat_services.fail_reply(message_id=reply.pk, error="could not save") == 1

    record = _record(reply)
    assert record.status == UsageRecord.Status.SETTLED and record.completion_tokens == 10
    assert_ledger_balances(team)


@pytest.mark.usefixtures("price")
def test_fail_reply_with_nothing_checkpointed_refunds(conversation, alice, team):
    reply = _reserved_reply(conversation, alice)

    chat_services.fail_reply(message_id=reply.pk, error="could not save")

    assert _record(reply).status == UsageRecord.Status.REFUNDED
    assert TeamMonth.objects.get(team=team).reserved == 0
    assert_ledger_balances(team)


# usage's sweep: a process killed between a reply's transition and its charge


@pytest.mark.usefixtures("price")
@pytest.mark.parametrize("status", [Message.Status.COMPLETE, Message.Status.INTERRUPTED])
def test_the_sweep_charges_a_reply_that_ended_without_its_charge(conversation, alice, team, status):
    reply = _reserved_reply(conversation, alice)
    # The transition committed; the process died before the charge (a plain UPDATE).
    Message.objects.filter(pk=reply.pk).update(status=status, content="y" * 80)
    _age(_record(reply))

    assert services.sweep_reservations() == 1

    record = _record(reply)
    assert record.status == UsageRecord.Status.SETTLED
    assert record.completion_tokens == 20 and record.cost > 0
    assert_ledger_balances(team)
    assert services.sweep_reservations() == 0  # closed once


@pytest.mark.usefixtures("price")
def test_the_sweep_uses_the_counts_a_reply_stored(conversation, alice, team):
    reply = _reserved_reply(conversation, alice)
    Message.objects.filter(pk=reply.pk).update(
        status=Message.Status.COMPLETE, content="z", prompt_tokens=1000, completion_tokens=500
    )
    _age(_record(reply))

    services.sweep_reservations()

    record = _record(reply)
    assert (record.prompt_tokens, record.completion_tokens) == (1000, 500)
    assert record.cost == Decimal(2) and not record.estimated  # 1 + 500 * 2/1K


@pytest.mark.usefixtures("price")
def test_the_sweep_leaves_young_records_and_streaming_replies(conversation, alice, team):
    reply = _reserved_reply(conversation, alice)
    assert services.sweep_reservations() == 0  # younger than the grace period
    _age(_record(reply))

    assert services.sweep_reservations() == 0  # still streaming: the orphan sweep's business

    assert _record(reply).status == UsageRecord.Status.RESERVED
    assert_ledger_balances(team)


@pytest.mark.usefixtures("price")
def test_the_sweep_refunds_a_record_whose_reply_was_deleted(conversation, alice, team):
    reply = _reserved_reply(conversation, alice)
    record = _record(reply)
    conversation.delete()  # the ledger keeps the record; its links become NULL
    _age(record)

    assert services.sweep_reservations() == 1

    record.refresh_from_db()
    assert record.status == UsageRecord.Status.REFUNDED and record.message_id is None
    assert_ledger_balances(team)


def test_the_sweep_asks_the_closer_registered_for_the_link(team, alice, monkeypatch):
    monkeypatch.setattr(services, "_closers", {})
    record = services.reserve(
        team=team, user=alice, role="owner", kind="chat", model="m", amount=Decimal(1)
    )
    UsageRecord.objects.filter(pk=record.pk).update(message=None)
    asked = []
    monkeypatch.setattr(UsageRecord, "link", property(lambda self: "thing"))
    services.register_closer("thing", lambda r: asked.append(r.pk) or False)
    _age(record)

    assert services.sweep_reservations() == 0

    assert asked == [record.pk]
    assert UsageRecord.objects.get(pk=record.pk).status == UsageRecord.Status.RESERVED


# A model without a price


def test_an_unpriced_model_is_charged_the_non_zero_default(conversation, alice, team):
    conversation.model = "mystery-model"
    conversation.save(update_fields=["model"])

    reply = _reserved_reply(conversation, alice)

    record = _record(reply)
    default = Price.objects.filter(model=Price.DEFAULT).first() or Price.site_default()
    assert default.prompt_per_1k > 0 and default.completion_per_1k > 0
    assert record.default_price and record.reserved > 0
    chat_services.checkpoint_reply(message_id=reply.pk, content="w" * 400)
    chat_services.interrupt_orphaned_replies()
    record.refresh_from_db()
    assert record.status == UsageRecord.Status.SETTLED and record.cost > 0
    assert record.default_price
    assert_ledger_balances(team)


def test_without_a_default_row_the_installed_default_is_charged(conversation, alice):
    Price.objects.filter(model=Price.DEFAULT).delete()
    conversation.model = "mystery-model"
    conversation.save(update_fields=["model"])

    record = _record(_reserved_reply(conversation, alice))

    assert record.default_price and record.reserved > 0


def test_an_unpriced_model_is_refused_by_a_budget_it_would_exceed(
    conversation, alice, team, set_budget
):
    conversation.model = "mystery-model"
    conversation.save(update_fields=["model"])
    set_budget(limit="0.000001")

    with pytest.raises(services.BudgetRefused):
        _reserved_reply(conversation, alice)

    assert not UsageRecord.objects.exists()
    assert not Message.objects.filter(conversation=conversation).exists()


def test_a_model_the_role_may_not_use_is_refused_with_nothing_saved(
    conversation, alice, set_budget
):
    set_budget(allowed={"owner": ["demo-fast"]})

    with pytest.raises(services.BudgetRefused) as refused:
        _reserved_reply(conversation, alice, text="Again")

    assert "not allowed" in refused.value.messages[0]
    assert not Message.objects.filter(conversation=conversation).exists()
    assert not UsageRecord.objects.exists()
