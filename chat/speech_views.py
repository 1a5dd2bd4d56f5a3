"""Read aloud's endpoints (chat.speech).

- POST .../messages/<id>/speech/ (CSRF-checked): the reply's parts, as URLs to play in order.
  Nothing is bought here; each URL carries a ticket (signed: this user, this message, voice,
  speed and model, for 30 minutes) that lets its GET buy the part.
- GET .../messages/<id>/speech/<index>/: the part's audio. A part bought before is served
  from storage; a part not bought yet is bought only with a valid ticket, and its audio is
  streamed to the browser as the gateway sends it. Without a ticket a GET never spends money,
  so a link on another site cannot buy anything.
- POST speech/sample/ and GET speech/sample/play/: the same for the Settings page's "Play a
  sample" (a fixed sentence, kept per voice and speed like a part, charged to the current
  team once).

Errors are JSON `{"error": "..."}`: the player shows them.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts import access
from accounts.http import AuthenticatedHttpRequest
from accounts.models import Membership, User
from chat import speech
from chat.models import Conversation, Message, SpeechClip
from gateway.errors import GatewayError
from usage.services import BudgetRefused

WAIT_SECONDS = 60.0  # how long a request waits for a part another request is buying


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _bad_choice() -> JsonResponse:
    return _error(_("Choose a voice the speech model knows and a speed from 0.25 to 4."), 400)


def _reply(conversation: Conversation, message_id: int) -> Message:
    message = (
        conversation.messages.filter(pk=access.clean_id(Message, message_id))
        .filter(role=Message.Role.ASSISTANT)
        .exclude(status=Message.Status.STREAMING)
        .first()
    )
    if message is None:
        raise Http404
    return message


def _choice(data: Any, user: User) -> tuple[str, Decimal] | None:
    voice = speech.clean_voice(data.get("voice"), user.speech_voice)
    speed = speech.clean_speed(data.get("speed"), user.speech_speed)
    return None if voice is None or speed is None else (voice, speed)


def _query(voice: str, speed: Decimal, ticket: str) -> str:
    params = {"voice": voice, "speed": str(speed)}
    if ticket:
        params["t"] = ticket
    return urlencode(params)


@login_required
@require_POST
def speech_plan(
    request: AuthenticatedHttpRequest, conversation_id: uuid.UUID, message_id: int
) -> HttpResponse:
    """The reply's parts as URLs to play in order; with tickets for members who may buy."""
    conversation, membership = access.get_for_user(request.user, Conversation, conversation_id)
    message = _reply(conversation, message_id)
    choice = _choice(request.POST, request.user)
    if choice is None:
        return _bad_choice()
    voice, speed = choice
    parts = speech.message_parts(message)
    if not parts:
        return _error(_("There is nothing to read aloud in this reply."), 400)
    ticket = ""
    if membership.can_write:
        ticket = speech.make_ticket(
            user_id=request.user.pk, message_id=message.pk, voice=voice, speed=speed
        )
    query = _query(voice, speed, ticket)
    urls = [
        reverse("chat:speech_part", args=[conversation.pk, message.pk, part.index]) + "?" + query
        for part in parts
    ]
    body = {
        "voice": voice,
        "speed": str(speed),
        "parts": [
            {"url": url, "characters": part.characters}
            for url, part in zip(urls, parts, strict=True)
        ],
    }
    return JsonResponse(body)


@login_required
@require_POST
def speech_sample(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A URL playing the fixed sample sentence in the voice and speed the form shows."""
    choice = _choice(request.POST, request.user)
    if choice is None:
        return _bad_choice()
    voice, speed = choice
    membership = request.membership
    may_buy = membership is not None and membership.can_write
    ticket = (
        speech.make_ticket(user_id=request.user.pk, message_id=None, voice=voice, speed=speed)
        if may_buy
        else ""
    )
    return JsonResponse(
        {"url": reverse("chat:speech_sample_play") + "?" + _query(voice, speed, ticket)}
    )


# --- playing (and buying with a ticket) ----------------------------------------------


def _load_part(
    user: User, conversation_id: uuid.UUID, message_id: int, index: int, query: Any
) -> tuple[Membership, Message, speech.Part, str, Decimal]:
    conversation, membership = access.get_for_user(user, Conversation, conversation_id)
    message = _reply(conversation, message_id)
    choice = _choice(query, user)
    if choice is None:
        raise ValueError
    parts = speech.message_parts(message)
    if not 0 <= index < len(parts):
        raise Http404
    return membership, message, parts[index], *choice


@login_required
@require_GET
async def speech_part(
    request: HttpRequest, conversation_id: uuid.UUID, message_id: int, index: int
) -> HttpResponseBase:
    user = cast(User, await request.auser())  # login_required
    try:
        membership, message, part, voice, speed = await sync_to_async(_load_part)(
            user, conversation_id, message_id, index, request.GET
        )
    except ValueError:
        return _bad_choice()
    return await _play(
        request,
        user=user,
        membership=membership,
        message=message,
        part=part,
        voice=voice,
        speed=speed,
    )


@login_required
@require_GET
async def speech_sample_play(request: HttpRequest) -> HttpResponseBase:
    user = cast(User, await request.auser())  # login_required
    choice = await sync_to_async(_choice)(request.GET, user)
    if choice is None:
        return _bad_choice()
    membership = getattr(request, "membership", None)
    if membership is None:
        raise Http404
    voice, speed = choice
    return await _play(
        request,
        user=user,
        membership=membership,
        message=None,
        part=speech.sample_part(),
        voice=voice,
        speed=speed,
    )


async def _play(
    request: HttpRequest,
    *,
    user: User,
    membership: Membership,
    message: Message | None,
    part: speech.Part,
    voice: str,
    speed: Decimal,
) -> HttpResponseBase:
    clip = await sync_to_async(speech.find_clip)(message, voice, speed, part)
    usable = clip is not None and clip.status != SpeechClip.Status.FAILED
    if clip is not None and usable and not speech.is_stale(clip):
        return await _served(clip)
    ticket = request.GET.get("t", "")
    message_id = message.pk if message is not None else None
    allowed = membership.can_write and speech.ticket_allows(
        ticket, user_id=user.pk, message_id=message_id, voice=voice, speed=speed
    )
    if not allowed:
        if clip is not None and clip.status == SpeechClip.Status.FAILED:
            return _error(clip.error or _("The gateway could not read this part aloud."), 502)
        return _error(_("This part has not been read aloud yet."), 404)
    try:
        clip, buying = await sync_to_async(speech.begin_purchase)(
            membership=membership, user=user, message=message, voice=voice, speed=speed, part=part
        )
    except BudgetRefused as exc:
        return _error(" ".join(exc.messages), 402)
    if not buying:
        return await _served(clip)
    try:
        content_type, chunks = await speech.stream_purchase(
            clip, part=part, voice=voice, speed=speed
        )
    except GatewayError as exc:
        return _error(exc.user_message, 502)
    return StreamingHttpResponse(chunks, content_type=content_type)


async def _served(clip: SpeechClip) -> HttpResponse:
    """A clip's stored audio, once another request has finished buying it."""
    if clip.status == SpeechClip.Status.PENDING:
        clip = await speech.wait_for(clip, timeout=WAIT_SECONDS)
    if clip.status == SpeechClip.Status.FAILED:
        return _error(clip.error or _("The gateway could not read this part aloud."), 502)
    if clip.status != SpeechClip.Status.READY:
        return _error(_("This part is still being read; try again in a moment."), 503)
    data = await sync_to_async(_read)(clip)
    return HttpResponse(data, content_type=clip.content_type or "application/octet-stream")


def _read(clip: SpeechClip) -> bytes:
    with clip.file.open("rb") as handle:
        return handle.read()
