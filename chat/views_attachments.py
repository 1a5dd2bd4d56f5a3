"""Images attached to the composer's message: uploaded over HTTP (files never go through the
websocket), taken back before sending, and served to whoever may read the conversation.

The upload answers with the composer's tray (templates/chat/_vision.html#tray): one chip per
image not sent yet, each carrying its id in a hidden `attachments` input that the composer's
websocket send includes; chat.services.begin_reply links them to the new message.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from accounts import access
from accounts.http import AuthenticatedHttpRequest
from chat import attachments
from chat.models import Attachment, Conversation

VARIANTS = ("file", "thumb", "download")
# Shown in the page (<img>, <audio>, <video>); anything else is only ever downloaded.
INLINE_PREFIXES = ("image/", "audio/", "video/")
ENCODED = {"png": "image/png", "jpg": "image/jpeg"}
# The multipart envelope around the files (boundaries, headers, field names).
ENVELOPE_BYTES = 64 * 1024


class SizeCapHandler(FileUploadHandler):
    """Stops reading a file past ATTACHMENT_MAX_MB and remembers its name, so an oversized
    upload costs neither the disk nor the memory it claims."""

    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.skipped: list[str] = []
        self.limit = attachments.max_bytes()
        self.received = 0

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.skipped.append(self.file_name or "")
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def _tray(
    request: AuthenticatedHttpRequest,
    conversation: Conversation,
    *,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    pending = attachments.pending_images(conversation=conversation, user=request.user)
    context = {"conversation": conversation, "pending_images": pending, "attach_errors": errors}
    return render(request, "chat/_vision.html#tray", context, status=status)


@csrf_exempt  # the upload handlers are set before the body is read; CSRF is checked below
@login_required
@require_POST
def attach(request: AuthenticatedHttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Add images to the message being written: multipart field `images`, one or more."""
    cap = SizeCapHandler(request)
    request.upload_handlers.insert(0, cap)
    return _attach(request, conversation_id, cap)


@csrf_protect
def _attach(
    request: AuthenticatedHttpRequest, conversation_id: uuid.UUID, cap: SizeCapHandler
) -> HttpResponse:
    conversation, _membership = access.get_rw_for_user(request.user, Conversation, conversation_id)
    limit = settings.ATTACHMENT_MAX_FILES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > attachments.max_bytes() * limit + ENVELOPE_BYTES:
        error = _("That is too much at once: at most %(count)d images of %(size)s MB each.") % {
            "count": limit,
            "size": f"{settings.ATTACHMENT_MAX_MB:g}",
        }
        return _tray(request, conversation, errors=[error], status=413)
    files = request.FILES.getlist("images")
    if not files and not cap.skipped:
        return _tray(request, conversation, errors=[_("Choose an image to attach.")], status=400)
    errors = attachments.attach_images(
        conversation=conversation, user=request.user, files=files, skipped=cap.skipped
    )
    return _tray(request, conversation, errors=errors, status=400 if errors else 200)


@login_required
@require_POST
def detach(
    request: AuthenticatedHttpRequest, conversation_id: uuid.UUID, attachment_id: int
) -> HttpResponse:
    """Take back an image not sent yet."""
    conversation, _membership = access.get_rw_for_user(request.user, Conversation, conversation_id)
    attachments.remove_pending(
        conversation=conversation, user=request.user, attachment_id=attachment_id
    )
    return _tray(request, conversation)


@login_required
@require_GET
def attachment(
    request: AuthenticatedHttpRequest, conversation_id: uuid.UUID, attachment_id: int, variant: str
) -> FileResponse:
    """An attachment of the conversation: the file (`file`), its thumbnail (`thumb`) or the
    file as a download (`download`), to those who may read the conversation; one not sent yet
    only to the member who attached it. The one view for every kind: attached images, voice
    recordings, copies of the files a reply linked to."""
    if variant not in VARIANTS:
        raise Http404
    conversation, _membership = access.get_for_user(request.user, Conversation, conversation_id)
    item = Attachment.objects.filter(
        conversation=conversation, pk=access.clean_id(Attachment, attachment_id)
    ).first()
    if item is None or (item.message_id is None and item.uploaded_by_id != request.user.pk):
        raise Http404
    return _serve(item, variant)


@require_GET
def attachment_link(request, token: str) -> FileResponse:
    """A sent image by a signed, expiring link (chat.attachments.public_link): only made for
    a gateway the admin lets read images from a URL in the text."""
    item = attachments.from_link(token)
    if item is None:
        raise Http404
    return _serve(item, "file")


def _serve(item: Attachment, variant: str) -> FileResponse:
    stored = item.thumbnail if variant == "thumb" and item.thumbnail else item.file
    if not stored:
        raise Http404
    try:
        handle = stored.open("rb")
    except (FileNotFoundError, OSError, ValueError):
        raise Http404 from None
    # The type was decided from the bytes when the file was stored (never the uploader's word);
    # a thumbnail is always a picture Parlor encoded.
    extension = (stored.name or "").rsplit(".", 1)[-1].lower()
    content_type = ENCODED.get(extension) if stored is item.thumbnail else item.content_type
    content_type = content_type or "application/octet-stream"
    inline = variant != "download" and content_type.startswith(INLINE_PREFIXES)
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=not inline,
        filename=item.name or f"attachment-{item.pk}.{extension}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    # A file is never a page: nothing in it runs, whatever a browser makes of it.
    response["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src 'self'; media-src 'self'"
    )
    response["Cache-Control"] = "private, max-age=3600"
    return response
