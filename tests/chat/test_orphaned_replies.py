from datetime import timedelta

from django.utils import timezone

from chat.models import Message
from chat.services import interrupt_orphaned_replies, interrupt_reply
from chat.signals import reply_ended
from tests.factories import make_conversation, make_message


def _streaming_reply(conversation, *, idle_seconds: int) -> Message:
    message = make_message(
        conversation, role=Message.Role.ASSISTANT, content="Half a", status=Message.Status.STREAMING
    )
    Message.objects.filter(pk=message.pk).update(
        updated_at=timezone.now() - timedelta(seconds=idle_seconds)
    )
    return message


def test_it_interrupts_every_streaming_reply_at_start_in_embedded_mode(alice, team):
    conversation = make_conversation(team, alice)
    fresh = _streaming_reply(conversation, idle_seconds=1)
    done = make_message(conversation, role=Message.Role.ASSISTANT, content="Whole")

    assert interrupt_orphaned_replies() == 1

    fresh.refresh_from_db()
    done.refresh_from_db()
    assert (fresh.status, fresh.content) == (Message.Status.INTERRUPTED, "Half a")
    assert "restarted" in fresh.error
    assert done.status == Message.Status.COMPLETE


def test_in_scale_mode_it_leaves_replies_other_processes_may_still_write(alice, team):
    conversation = make_conversation(team, alice)
    live = _streaming_reply(conversation, idle_seconds=5)
    stale = _streaming_reply(conversation, idle_seconds=3600)

    assert interrupt_orphaned_replies(idle_for=timedelta(minutes=6)) == 1

    live.refresh_from_db()
    stale.refresh_from_db()
    assert live.status == Message.Status.STREAMING
    assert stale.status == Message.Status.INTERRUPTED


def test_each_orphan_goes_through_interrupt_reply_and_signals_reply_ended(alice, team):
    conversation = make_conversation(team, alice)
    live = _streaming_reply(conversation, idle_seconds=5)
    stale = [_streaming_reply(conversation, idle_seconds=3600) for _ in range(2)]
    calls: list[tuple[int, str, str]] = []

    def receiver(sender, *, message, status, **kwargs):
        calls.append((message.pk, message.status, status))

    reply_ended.connect(receiver, sender=Message, weak=False)
    try:
        assert interrupt_orphaned_replies(idle_for=timedelta(minutes=6)) == 2
    finally:
        reply_ended.disconnect(receiver, sender=Message)

    interrupted = Message.Status.INTERRUPTED
    assert sorted(calls) == [(m.pk, interrupted, interrupted) for m in stale]
    live.refresh_from_db()
    assert live.status == Message.Status.STREAMING


def test_interrupt_reply_leaves_a_reply_finished_meanwhile_alone(alice, team):
    conversation = make_conversation(team, alice)
    reply = _streaming_reply(conversation, idle_seconds=3600)
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.COMPLETE, content="Whole")
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs["message"].pk)

    reply_ended.connect(receiver, sender=Message, weak=False)
    try:
        assert interrupt_reply(reply, error="gone") is False
    finally:
        reply_ended.disconnect(receiver, sender=Message)

    reply.refresh_from_db()
    assert (reply.status, reply.content, calls) == (Message.Status.COMPLETE, "Whole", [])
