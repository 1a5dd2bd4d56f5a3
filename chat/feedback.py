"""Thumbs up / down on replies, with an optional note: one Feedback per user and message.

Anyone who may read the conversation may rate its complete replies, viewers of a shared
conversation included: a rating is the reader's own (like a pin) and changes nothing anyone
else sees in the thread. The conversation is loaded through accounts.access on every action,
so a reader who lost access is refused even before their socket hears of it.

The rating travels on the conversation's websocket (the `feedback` action); the consumer sends
the new state to every tab of that user on that conversation, never to anyone else's. The
team's reviewers read ratings and notes on the usage page (usage.feedback).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.access import get_child, get_for_user
from accounts.models import User
from chat.models import Conversation, Feedback, Message
from chat.sessions import SessionEnded, session_is_current

# What a thumb sends when it is pressed already: clicking it again takes the rating back.
CLEAR = "none"


@dataclass(frozen=True)
class Change:
    """A user's feedback on a message after an action; `rating` "" when there is none."""

    message_id: int
    rating: str
    note: str
    # The rating was just given: the tab that gave it opens the note form.
    ask_note: bool


def attach(user: Any, messages: Iterable[Message]) -> None:
    """Set `my_feedback` (a Feedback or None) on each message for `user`: one query, none
    when no message can be rated (the partial reads it from async code)."""
    rateable = {m.pk: m for m in messages if is_rateable(m)}
    for message in rateable.values():
        message.my_feedback = None  # type: ignore[attr-defined]
    if not rateable or not getattr(user, "is_authenticated", False):
        return
    for feedback in Feedback.objects.filter(user=user, message_id__in=rateable):
        rateable[feedback.message_id].my_feedback = feedback  # type: ignore[attr-defined]


def is_rateable(message: Message) -> bool:
    return message.role == Message.Role.ASSISTANT and message.status == Message.Status.COMPLETE


def apply(
    *, session_key: str | None, user_id: int, conversation_id: Any, data: dict[str, Any]
) -> Change:
    """Rate (`rating` up/down, or "none" to take it back) or annotate (`note`) a reply, for
    the user of a socket whose session is still current. Http404 for a message the user may
    not read or that cannot be rated, ValidationError for a note too long or without a
    rating."""
    user = User.objects.filter(pk=user_id).first()
    if not session_is_current(session_key, user):
        raise SessionEnded
    assert user is not None
    conversation, _membership = get_for_user(user, Conversation, conversation_id)
    message = get_child(conversation, "messages", data.get("message_id"))
    if not is_rateable(message):
        raise Http404
    if "note" in data:
        return _annotate(user, message, data["note"])
    return _rate(user, message, data.get("rating"))


def _rate(user: User, message: Message, rating: Any) -> Change:
    if rating == CLEAR:
        Feedback.objects.filter(user=user, message=message).delete()
        return Change(message.pk, "", "", ask_note=False)
    if rating not in Feedback.Rating.values:
        raise ValidationError(_("Choose thumbs up or thumbs down."))
    feedback, _created = Feedback.objects.update_or_create(
        user=user, message=message, defaults={"rating": rating}
    )
    return Change(message.pk, feedback.rating, feedback.note, ask_note=True)


def _annotate(user: User, message: Message, note: Any) -> Change:
    note = note.strip() if isinstance(note, str) else ""
    if len(note) > Feedback.NOTE_MAX_CHARS:
        raise ValidationError(
            _("Keep the note under %(max)d characters.") % {"max": Feedback.NOTE_MAX_CHARS}
        )
    feedback = Feedback.objects.filter(user=user, message=message).first()
    if feedback is None:
        raise ValidationError(_("Rate the reply first, then add a note."))
    feedback.note = note
    feedback.save(update_fields=["note", "updated_at"])
    return Change(message.pk, feedback.rating, feedback.note, ask_note=False)
