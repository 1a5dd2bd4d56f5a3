"""Voice input and audio translation: storing a recording, charging speech to text through
the one money path, and the translation's pair of messages.

Sync functions with keyword-only arguments, each called through one database_sync_to_async
by the views and the /translate command; the upstream calls and PyAV work happen between
them, outside any transaction.

Money: one UsageRecord (kind audio) per request a member makes, reserved for the whole
audio's length before anything goes upstream (a refusal raises usage.services.BudgetRefused
and saves nothing) and settled for the seconds the gateway transcribed, even when a later
piece of a split file failed (the gateway billed the earlier ones); refunded when none went
through. A transcription's record links only to its conversation (no message exists yet): one
left reserved by a process that died is refunded by usage's sweep. A translation's record
links to its assistant message, which chat's sweep for interrupted replies closes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import get_rw_for_user
from accounts.models import Membership, User
from chat import frames
from chat.models import Attachment, Conversation, Message
from chat.services import live_reply_window
from chat.threads import ThreadItem
from usage import services as money
from usage.models import UsageRecord
from voice.sniff import AudioFormat

# new-api bills a minute of audio as 1,000 prompt tokens of the model's ratio; its published
# prices (GET /api/pricing) carry no price per second. A model priced per second of audio
# (usage's Price.per_audio_second, set by hand or the site default) is charged that instead.
AUDIO_TOKENS_PER_MINUTE = 1000


def audio_tokens(seconds: float) -> int:
    return math.ceil(max(0.0, seconds) * AUDIO_TOKENS_PER_MINUTE / 60)


def audio_cost(model: str, seconds: float) -> money.Quote:
    """What `seconds` of audio cost with `model`: its price per second of audio when it has
    one, else the gateway's rule of 1,000 prompt tokens a minute."""
    price, _default = money.price_for(model)
    if price.per_audio_second:
        return money.quote(model, audio_seconds=round(seconds, 3))
    return money.quote(model, prompt_tokens=audio_tokens(seconds))


def _reserve(
    *,
    conversation: Conversation,
    user: User,
    membership: Membership,
    model: str,
    seconds: float,
    message: Message | None = None,
) -> UsageRecord:
    price = audio_cost(model, seconds)
    return money.reserve(
        team=conversation.team,
        user=user,
        role=membership.role,
        kind=UsageRecord.Kind.AUDIO,
        model=model,
        amount=price.amount,
        default_price=price.default_price,
        prompt_tokens=audio_tokens(seconds),
        conversation=conversation,
        message=message,
    )


def close_record(*, record: UsageRecord, seconds: float) -> bool:
    """Settle `record` for the `seconds` the gateway handled, or refund it when none."""
    if seconds <= 0:
        return money.refund(record)
    tokens = audio_tokens(seconds)
    cost = audio_cost(record.model, seconds).amount
    return money.settle(record, cost=cost, prompt_tokens=tokens, estimated=False)


def max_upload_bytes() -> int:
    return int(settings.AUDIO_UPLOAD_MAX_MB * 1024 * 1024)


def gateway_max_bytes() -> int:
    return int(settings.AUDIO_GATEWAY_MAX_MB * 1024 * 1024)


def max_piece_seconds() -> float:
    return float(settings.AUDIO_MAX_MINUTES) * 60


# Recordings


def _attachment(
    *,
    conversation: Conversation,
    user: User,
    data: bytes,
    fmt: AudioFormat,
    name: str,
    seconds: float,
) -> Attachment:
    attachment = Attachment(
        conversation=conversation,
        uploaded_by=user,
        kind=Attachment.Kind.AUDIO,
        content_type=fmt.content_type,
        size=len(data),
        name=(name or _("Recording"))[:255],
        duration_ms=round(seconds * 1000),
    )
    # The stored name ends with the extension the bytes call for (chat.models keeps it).
    attachment.file.save(f"audio.{fmt.extension}", ContentFile(data), save=False)
    attachment.save()
    return attachment


@dataclass(frozen=True)
class Transcription:
    attachment: Attachment
    record: UsageRecord | None
    language: str


def begin_recording(
    *,
    user: User,
    conversation_id: Any,
    data: bytes,
    fmt: AudioFormat,
    name: str,
    seconds: float,
    transcribe: bool,
) -> Transcription:
    """Store an uploaded recording (unlinked until its message is sent) and, when it is to
    be transcribed, reserve the transcription first in the same transaction: a budget
    refusal stores nothing. PermissionDenied / Http404 for a conversation the user may not
    write in."""
    with transaction.atomic():
        conversation, membership = get_rw_for_user(user, Conversation, conversation_id)
        record = None
        if transcribe:
            record = _reserve(
                conversation=conversation,
                user=user,
                membership=membership,
                model=settings.TRANSCRIPTION_MODEL,
                seconds=seconds,
            )
        attachment = _attachment(
            conversation=conversation, user=user, data=data, fmt=fmt, name=name, seconds=seconds
        )
    language = User.objects.filter(pk=user.pk).values_list("transcription_language", flat=True)
    return Transcription(attachment, record, language.first() or "")


# Translation: a user message with the audio, an assistant message with the English text.


@dataclass(frozen=True)
class TranslationStart:
    conversation: Conversation
    user_item: ThreadItem
    assistant: Message
    attachment: Attachment
    record: UsageRecord


def pending_audio(*, user: User, conversation: Conversation) -> Attachment | None:
    """The audio `user` uploaded last in this conversation that no message has yet."""
    return (
        Attachment.objects.filter(
            conversation=conversation,
            uploaded_by=user,
            kind=Attachment.Kind.AUDIO,
            message__isnull=True,
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def begin_translation(*, user: User, conversation_id: Any, text: str) -> TranslationStart:
    """Save the pair (the user's message with the audio, the assistant's placeholder) and
    reserve the translation, in one transaction; ValidationError, BudgetRefused,
    PermissionDenied or Http404 save nothing."""
    with transaction.atomic():
        conversation, membership = get_rw_for_user(user, Conversation, conversation_id)
        attachment = pending_audio(user=user, conversation=conversation)
        if attachment is None:
            raise ValidationError(_("Choose an audio file to translate first."), code="no_audio")
        if conversation.messages.filter(
            status=Message.Status.STREAMING,
            updated_at__gt=timezone.now() - live_reply_window(),
        ).exists():
            raise ValidationError(
                _("A reply is still being written. Wait for it or press Stop."), code="busy"
            )
        question = Message.objects.create(
            conversation=conversation,
            parent_id=conversation.current_leaf_id,
            author=user,
            role=Message.Role.USER,
            content=text or attachment.name,
        )
        attachment.message = question
        attachment.save(update_fields=["message"])
        model = settings.TRANSCRIPTION_MODEL
        answer = Message.objects.create(
            conversation=conversation,
            parent=question,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            model=model,
        )
        conversation.current_leaf = answer
        fields = ["current_leaf", "updated_at"]
        if not conversation.title:
            conversation.title = (question.content or _("Audio translation"))[:60]
            fields.append("title")
        conversation.save(update_fields=fields)
        record = _reserve(
            conversation=conversation,
            user=user,
            membership=membership,
            model=model,
            seconds=(attachment.duration_ms or 0) / 1000,
            message=answer,
        )
    question = Message.objects.select_related("author").get(pk=question.pk)
    question._prefetched_objects_cache = {"attachments": [attachment]}  # type: ignore[attr-defined]
    return TranslationStart(
        conversation, ThreadItem(question, [question.pk]), answer, attachment, record
    )


def finish_translation(
    *, start: TranslationStart, text: str, seconds: float, error: str = ""
) -> ThreadItem:
    """Store the translation (or the failure) and charge the seconds translated, in one
    transaction."""
    answer = start.assistant
    with transaction.atomic():
        answer.content = text
        answer.html = frames.stored_html(text) if text else ""
        answer.status = Message.Status.FAILED if error else Message.Status.COMPLETE
        answer.error = error
        answer.prompt_tokens = audio_tokens(seconds) if seconds else None
        answer.save(
            update_fields=["content", "html", "status", "error", "prompt_tokens", "updated_at"]
        )
        close_record(record=start.record, seconds=seconds)
    return ThreadItem(answer, [answer.pk])
