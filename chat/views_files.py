"""Serving a conversation's attachments (chat.Attachment): only to those who may read the
conversation, loaded through accounts.access with it; anyone else gets the same 404 as for a
file that does not exist."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from accounts import access
from accounts.http import AuthenticatedHttpRequest
from chat.models import Attachment, Conversation

# Shown in the page (<img>, <audio>, <video>); anything else is only ever downloaded.
INLINE_PREFIXES = ("image/", "audio/", "video/")


@login_required
@require_GET
def attachment(
    request: AuthenticatedHttpRequest, conversation_id: uuid.UUID, attachment_id: int
) -> FileResponse:
    conversation, _membership = access.get_for_user(request.user, Conversation, conversation_id)
    item: Attachment = access.get_child(conversation, "attachments", attachment_id)
    if not item.file:
        raise Http404
    try:
        handle = item.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None
    inline = item.content_type.startswith(INLINE_PREFIXES) and "download" not in request.GET
    response = FileResponse(
        handle,
        content_type=item.content_type or "application/octet-stream",
        as_attachment=not inline,
        filename=item.name or f"attachment-{item.pk}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    # A file is never a page: nothing in it runs, whatever a browser makes of it.
    response["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src 'self'; media-src 'self'"
    )
    return response
