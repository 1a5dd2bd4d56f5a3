"""Recordings: upload one (to transcribe it into the composer, or to translate it with
/translate) and play one back. The upload view is async: transcribing takes seconds, and a
sync view would hold the one thread every other sync view waits on."""

from __future__ import annotations

import os
import uuid
from functools import partial
from typing import cast

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import access
from accounts.models import User
from chat.models import Conversation
from gateway import audio as gateway_audio
from usage.services import BudgetRefused
from voice import services, speech

UPLOAD_FIELD = "audio"
# The multipart envelope around the file (boundaries, the other fields).
ENVELOPE_BYTES = 64 * 1024


def _error(message: str, status: int, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@login_required
@require_POST
async def upload(request: HttpRequest, conversation_id: uuid.UUID) -> JsonResponse:
    """Store a recording or audio file for the conversation. With purpose=translate, only
    stored (the /translate command translates it); otherwise transcribed in the member's
    language (Settings; detected when unset) and answered as {"id", "text", "seconds"} for
    the composer. Errors are {"error": "..."} with a 4xx/5xx status."""
    user = cast(User, await request.auser())  # login_required: never anonymous here
    # Who may write here is settled before the upload is read or decoded: an outsider gets
    # the 404 of a conversation that does not exist, whatever the body holds.
    try:
        await sync_to_async(access.get_rw_for_user)(user, Conversation, conversation_id)
    except PermissionDenied:
        return _error(_("You can read this conversation but not write in it."), 403)
    limit = services.max_upload_bytes()
    too_big = _("The recording is too large: the limit is %(mb)d MB.") % {"mb": limit >> 20}
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit + ENVELOPE_BYTES:
        return _error(too_big, 413)
    upload = request.FILES.get(UPLOAD_FIELD)
    if upload is None:
        return _error(_("No recording was received."), 400)
    if upload.size is not None and upload.size > limit:
        return _error(too_big, 413)
    data = upload.read()
    try:
        audio = await speech.read_audio(data)
    except speech.NotAudio as exc:
        return _error(str(exc), 400)
    transcribe = request.POST.get("purpose") != "translate"
    try:
        start = await sync_to_async(services.begin_recording)(
            user=user,
            conversation_id=conversation_id,
            data=audio.data,
            fmt=audio.fmt,
            name=os.path.basename(upload.name or "")[:255],
            seconds=audio.seconds,
            transcribe=transcribe,
        )
    except BudgetRefused as exc:
        return _error(" ".join(exc.messages), 402)
    except PermissionDenied:
        return _error(_("You can read this conversation but not write in it."), 403)
    attachment = start.attachment
    answer = {"id": attachment.pk, "name": attachment.name, "seconds": round(audio.seconds, 1)}
    if start.record is None:
        return JsonResponse(answer, status=201)
    call = partial(gateway_audio.transcribe, language=start.language, model=start.record.model)
    outcome = await speech.run(audio, call)
    await sync_to_async(services.close_record)(record=start.record, seconds=outcome.seconds)
    answer["text"] = outcome.text
    if outcome.error is not None:
        return JsonResponse({**answer, "error": outcome.error.user_message}, status=502)
    return JsonResponse(answer, status=201)
