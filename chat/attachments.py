"""Images a member attaches to a message (chat.Attachment, kind image): uploaded before the
message exists, linked to it when it is sent (chat.services.begin_reply), copied when the
message is (an edit's new version, a private copy of the conversation).

Sync functions with keyword-only arguments; views and services call them with a conversation
already loaded through accounts.access.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.access import MAX_ID
from accounts.models import User
from chat import vision
from chat.models import Attachment, Conversation, Message


def max_bytes() -> int:
    return int(settings.ATTACHMENT_MAX_MB * 1024 * 1024)


def pending_images(*, conversation: Conversation, user: User) -> models.QuerySet[Attachment]:
    """The images `user` attached in this conversation that no message carries yet."""
    return Attachment.objects.filter(
        conversation=conversation, uploaded_by=user, message__isnull=True,
        kind=Attachment.Kind.IMAGE,
    ).order_by("position", "pk")  # fmt: skip


def too_many_text(limit: int) -> str:
    return ngettext(
        "A message can carry %(limit)d image.",
        "A message can carry at most %(limit)d images.",
        limit,
    ) % {"limit": limit}


def attach_images(
    *,
    conversation: Conversation,
    user: User,
    files: list[UploadedFile],
    skipped: Iterable[str] = (),
) -> list[str]:
    """Store each upload that is a picture Parlor takes, scaled and cleaned (chat.vision);
    return one plain sentence per file refused. `skipped`: names of files the upload handler
    stopped reading because they were over ATTACHMENT_MAX_MB."""
    errors = [
        _("%(name)s is larger than %(limit)s MB.")
        % {"name": name or _("A file"), "limit": f"{settings.ATTACHMENT_MAX_MB:g}"}
        for name in skipped
    ]
    pending = pending_images(conversation=conversation, user=user)
    count = pending.count()
    limit = settings.ATTACHMENT_MAX_FILES
    if count + len(files) > limit:
        return [*errors, too_many_text(limit)]
    position = (pending.aggregate(top=models.Max("position"))["top"] or 0) + 1
    for upload in files:
        name = (upload.name or "")[:255]
        if upload.size is not None and upload.size > max_bytes():
            errors.append(
                _("%(name)s is larger than %(limit)s MB.")
                % {"name": name, "limit": f"{settings.ATTACHMENT_MAX_MB:g}"}
            )
            continue
        try:
            image = vision.process_image(upload.read(max_bytes() + 1))
        except ValidationError as exc:
            errors.append(f"{name}: {' '.join(exc.messages)}" if name else " ".join(exc.messages))
            continue
        attachment = Attachment(
            conversation=conversation,
            uploaded_by=user,
            kind=Attachment.Kind.IMAGE,
            content_type=image.content_type,
            size=len(image.data),
            name=name,
            width=image.width,
            height=image.height,
            position=position,
        )
        attachment.file.save(f"image.{image.extension}", ContentFile(image.data), save=False)
        attachment.thumbnail.save(
            f"thumb.{image.thumbnail_extension}", ContentFile(image.thumbnail), save=False
        )
        attachment.save()
        position += 1
    return errors


def remove_pending(*, conversation: Conversation, user: User, attachment_id: Any) -> None:
    """Take back an image not sent yet (its files go after the commit)."""
    ids = clean_ids([attachment_id])
    pending_images(conversation=conversation, user=user).filter(pk__in=ids).delete()


def clean_ids(values: Any) -> list[int]:
    """Attachment ids from a frame or a form: a list or one value; anything else is dropped."""
    if values is None:
        return []
    if not isinstance(values, list):
        values = [values]
    ids = []
    for value in values[: settings.ATTACHMENT_MAX_FILES * 2]:
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
            ids.append(value)
    return list(dict.fromkeys(ids))


def take_pending(*, conversation: Conversation, user: User, ids: list[int]) -> list[Attachment]:
    """The pending attachments `ids` names (images, a voice recording), in the order attached;
    ValidationError when one is no longer there (sent from another tab, taken back) or there
    are too many."""
    if not ids:
        return []
    if len(ids) > settings.ATTACHMENT_MAX_FILES:
        raise ValidationError(too_many_text(settings.ATTACHMENT_MAX_FILES), code="too_many")
    pending = Attachment.objects.filter(
        conversation=conversation, uploaded_by=user, message__isnull=True
    )
    found = list(pending.filter(pk__in=ids).order_by("position", "pk"))
    if len(found) != len(ids):
        raise ValidationError(
            _("An attached image is no longer there. Attach it again."), code="gone"
        )
    return found


def link(attachments: list[Attachment], message: Message) -> None:
    """Make `attachments` the message's, and its prefetched list (it is rendered from async
    code, which must not query)."""
    for position, attachment in enumerate(attachments, start=1):
        attachment.message, attachment.position = message, position
    Attachment.objects.bulk_update(attachments, ["message", "position"])
    set_loaded(message, attachments)


def set_loaded(message: Message, attachments: list[Attachment]) -> None:
    """Record `attachments` as the message's loaded list, as prefetch_related would."""
    cache = getattr(message, "_prefetched_objects_cache", None)
    if cache is None:
        cache = message._prefetched_objects_cache = {}  # type: ignore[attr-defined]
    cache["attachments"] = attachments


def load_into(messages: list[Message]) -> None:
    """Load the attachments of `messages` (of one conversation or several) in one query, as
    each message's loaded list."""
    by_message: dict[int, list[Attachment]] = {m.pk: [] for m in messages}
    conversations = {m.conversation_id for m in messages}
    for attachment in Attachment.objects.filter(
        conversation_id__in=conversations, message__isnull=False
    ).order_by("position", "pk"):
        by_message.setdefault(attachment.message_id, []).append(attachment)  # type: ignore[arg-type]
    for message in messages:
        set_loaded(message, by_message[message.pk])


def loaded(message: Message) -> list[Attachment]:
    """The message's attachments if they were loaded with it, else none (never a query)."""
    cache = getattr(message, "_prefetched_objects_cache", None) or {}
    return list(cache.get("attachments", ()))


def copy_to(attachments: Iterable[Attachment], message: Message) -> list[Attachment]:
    """Copies of `attachments` (their files copied too: a file belongs to one row, which
    deletes it) for `message`, in its conversation."""
    copies = []
    for source in attachments:
        copy = Attachment(
            conversation_id=message.conversation_id,
            message=message,
            uploaded_by_id=source.uploaded_by_id,
            kind=source.kind,
            content_type=source.content_type,
            size=source.size,
            name=source.name,
            width=source.width,
            height=source.height,
            duration_ms=source.duration_ms,
            source_url=source.source_url,
            position=source.position,
        )
        for field in ("file", "thumbnail"):
            stored = getattr(source, field)
            if not stored:
                continue
            try:
                with stored.open("rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            extension = stored.name.rsplit(".", 1)[-1]
            getattr(copy, field).save(f"copy.{extension}", ContentFile(data), save=False)
        if not copy.file:
            continue
        copy.save()
        copies.append(copy)
    set_loaded(message, copies)
    return copies


# Links for a gateway that reads images from a URL in the text (VisionModel.url_in_text): the
# one way to an image without a session, for one image, for LINK_SECONDS.
LINK_SALT = "chat.attachment-link"
LINK_SECONDS = 3600


def public_link(attachment: Attachment) -> str:
    """An absolute, signed, expiring address of the image under PUBLIC_URL ("" without it)."""
    if not settings.PUBLIC_URL:
        return ""
    token = signing.dumps(attachment.pk, salt=LINK_SALT, compress=False)
    return settings.PUBLIC_URL + reverse("chat:attachment_link", args=[token])


def from_link(token: str) -> Attachment | None:
    """The sent image a link names while it is valid, else None."""
    try:
        pk = signing.loads(token, salt=LINK_SALT, max_age=LINK_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(pk, int):
        return None
    sent = Attachment.objects.filter(message__isnull=False, kind=Attachment.Kind.IMAGE)
    return sent.filter(pk=pk).first()
