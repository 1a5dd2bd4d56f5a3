"""Read aloud: a reply's parts bought from the gateway's text-to-speech once, kept, and played.

A reply is turned into speakable text and split into parts (chat.speech_text). Each part's
audio is a SpeechClip, kept per message, voice, speed, model and text: asked for again, it is
served from storage, never bought twice. Buying a part is:

1. `begin_purchase` (one transaction): the clip row is made `pending` (the row is the lock: a
   second request for the same part waits for it) and the price of the part's characters is
   reserved through usage.services; a refused budget raises BudgetRefused and nothing is
   saved or sent upstream;
2. gateway.speech streams the audio, which is passed on to the browser as it arrives
   (`stream_purchase`), in a task of its own so a reader who goes away does not waste a part
   already paid for;
3. `finish_purchase` stores the file and settles the record; `fail_purchase` marks the clip
   failed with the gateway's message and refunds (nothing delivered), or settles when the
   audio was cut off after it started (the gateway bills the characters it accepted).

Who may buy: a member who can write in the conversation's team (a viewer plays the clips
that exist). Buying happens only on a request carrying a ticket that a POST (CSRF-checked)
handed out, so a cross-site link cannot spend money (chat.speech_views).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.db import IntegrityError, close_old_connections, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import SPEECH_MAX_SPEED, SPEECH_MIN_SPEED, speech_voices_for
from chat.models import Message, SpeechClip
from chat.speech_text import speakable_text, split_for_speech
from gateway import speech as gateway_speech
from gateway.errors import GatewayError
from usage import services as money
from usage.models import UsageRecord

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

TICKET_SALT = "chat.speech.ticket"
TICKET_MAX_AGE = 30 * 60  # seconds: a reply read slowly still gets its last parts
WAIT_STEP = 0.1  # seconds between looks at a clip another request is buying
_tasks: set[asyncio.Task[Any]] = set()  # purchases in flight (kept from the GC)
_ended: dict[int, asyncio.Event] = {}  # clip pk -> set when this process's purchase ends


def sample_text() -> str:
    return _("Hello! This is how replies will sound when Parlor reads them aloud.")


@dataclass(frozen=True)
class Part:
    index: int
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def characters(self) -> int:
        return len(self.text)


def parts_of(text: str) -> list[Part]:
    """Plain text in the parts the gateway accepts (settings.SPEECH_MAX_BYTES of UTF-8)."""
    pieces = split_for_speech(
        text,
        int(settings.SPEECH_MAX_BYTES),
        first_max_bytes=int(settings.SPEECH_FIRST_PART_BYTES) or None,
    )
    return [Part(index, piece) for index, piece in enumerate(pieces)]


def message_parts(message: Message) -> list[Part]:
    """The parts a reply is read in (its answer, not its reasoning)."""
    return parts_of(speakable_text(message.content))


def sample_part() -> Part:
    return Part(0, sample_text())


def model() -> str:
    return str(settings.SPEECH_MODEL)


def clean_voice(value: Any, default: str) -> str | None:
    """`value` if the speech model knows that voice, else None; when blank, `default` (the
    member's saved voice), or the model's first voice if it does not know that one."""
    known = speech_voices_for(model())
    if value:
        voice = str(value).strip().lower()
        return voice if voice in known else None
    return default if default in known else known[0]


def clean_speed(value: Any, default: Decimal) -> Decimal | None:
    """`value` (or `default` when blank) as a speed between 0.25 and 4, two decimals."""
    if value in (None, ""):
        value = default
    try:
        speed = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return None
    if not speed.is_finite() or not SPEECH_MIN_SPEED <= speed <= SPEECH_MAX_SPEED:
        return None
    return speed


# --- tickets: what a CSRF-checked POST allows a GET to buy -----------------------------


def make_ticket(*, user_id: int, message_id: int | None, voice: str, speed: Decimal) -> str:
    return signing.dumps([user_id, message_id, voice, str(speed), model()], salt=TICKET_SALT)


def ticket_allows(
    ticket: str, *, user_id: int, message_id: int | None, voice: str, speed: Decimal
) -> bool:
    if not ticket:
        return False
    try:
        data = signing.loads(ticket, salt=TICKET_SALT, max_age=TICKET_MAX_AGE)
    except signing.BadSignature:
        return False
    return data == [user_id, message_id, voice, str(speed), model()]


# --- money ---------------------------------------------------------------------------


def quote_part(characters: int) -> money.Quote:
    """The price of reading `characters`: the model's price per 1K characters. A price
    imported from the gateway is per token (new-api bills speech input characters at the
    model's token ratio), so a model priced only per prompt token is charged that per
    character."""
    price = money.quote(model(), characters=characters)
    if price.amount:
        return price
    as_tokens = money.quote(model(), prompt_tokens=characters)
    return as_tokens if as_tokens.amount else price


# --- the clip's lifecycle --------------------------------------------------------------


def _clips(message: Message | None, voice: str, speed: Decimal, part: Part) -> Any:
    return SpeechClip.objects.filter(
        message=message, voice=voice, speed=speed, model=model(), digest=part.digest
    )


def find_clip(message: Message | None, voice: str, speed: Decimal, part: Part) -> SpeechClip | None:
    return _clips(message, voice, speed, part).first()


def is_stale(clip: SpeechClip) -> bool:
    """A pending clip nobody has touched for longer than a gateway read may take: its process
    died; another request may buy it."""
    limit = timedelta(seconds=float(settings.GATEWAY_READ_TIMEOUT) + 60)
    return clip.status == SpeechClip.Status.PENDING and clip.updated_at < timezone.now() - limit


def begin_purchase(
    *,
    membership: Any,
    user: Any,
    message: Message | None,
    voice: str,
    speed: Decimal,
    part: Part,
) -> tuple[SpeechClip, bool]:
    """The part's clip, and whether this call is to buy it: True with a new pending clip and
    its price reserved; False with a clip that is ready, being bought by another request, or
    failed (left as it is). Raises usage.services.BudgetRefused (nothing saved)."""
    try:
        with transaction.atomic():
            clip = _clips(message, voice, speed, part).select_for_update().first()
            if clip is not None and clip.status == SpeechClip.Status.READY:
                return clip, False
            if clip is not None and clip.status == SpeechClip.Status.PENDING and not is_stale(clip):
                return clip, False
            price = quote_part(part.characters)
            record = money.reserve(
                team=membership.team,
                user=user,
                role=membership.role,
                kind=UsageRecord.Kind.AUDIO,
                model=model(),
                amount=price.amount,
                default_price=price.default_price,
                conversation=message.conversation if message is not None else None,
                message=message,
            )
            if clip is None:
                clip = SpeechClip.objects.create(
                    message=message,
                    voice=voice,
                    speed=speed,
                    model=model(),
                    digest=part.digest,
                    index=part.index,
                    characters=part.characters,
                    record=record,
                    requested_by=user,
                )
            else:  # failed before, or left pending by a process that died: bought again
                clip.status, clip.error, clip.record = SpeechClip.Status.PENDING, "", record
                clip.requested_by = user
                clip.save(update_fields=["status", "error", "record", "requested_by", "updated_at"])
            return clip, True
    except IntegrityError:  # another request made the row first: it is buying the part
        clip = _clips(message, voice, speed, part).get()
        return clip, False


def finish_purchase(clip: SpeechClip, *, data: bytes, content_type: str, extension: str) -> None:
    """Store the audio and charge the reservation (the gateway bills per character)."""
    clip.file.save(f"part.{extension}", ContentFile(data), save=False)
    clip.status, clip.error = SpeechClip.Status.READY, ""
    clip.content_type, clip.size = content_type, len(data)
    with transaction.atomic():
        clip.save(update_fields=["file", "status", "error", "content_type", "size", "updated_at"])
        record = clip.record
        if record is not None:
            money.settle(record, cost=record.reserved, estimated=False)


def fail_purchase(clip: SpeechClip, *, error: str, delivered: bool) -> None:
    """Mark the clip failed with `error`: refunded when the gateway delivered nothing, else
    charged (it bills the characters it accepted)."""
    clip.status, clip.error = SpeechClip.Status.FAILED, error[:500]
    with transaction.atomic():
        clip.save(update_fields=["status", "error", "updated_at"])
        record = clip.record
        if record is not None:
            if delivered:
                money.settle(record, cost=record.reserved, estimated=False)
            else:
                money.refund(record)


def close_record(record: UsageRecord) -> bool | None:
    """usage's sweep, for a reserved record of a purchase (None when `record` is not one):
    False while its clip is still being bought, else settled when the clip was stored and
    refunded when nothing can be shown to have been delivered."""
    clip = SpeechClip.objects.filter(record=record).first()
    if clip is None:
        return None
    if clip.status == SpeechClip.Status.PENDING and not is_stale(clip):
        return False
    if clip.status == SpeechClip.Status.READY:
        return money.settle(record, cost=record.reserved, estimated=False)
    return money.refund(record)


# --- streaming a purchase --------------------------------------------------------------

_END = object()


async def stream_purchase(
    clip: SpeechClip, *, part: Part, voice: str, speed: Decimal
) -> tuple[str, AsyncIterator[bytes]]:
    """Ask the gateway for the part and return (content type, audio chunks as they arrive).
    The audio is fetched by a task of its own that stores it and settles the charge when it
    ends, whether or not anyone still reads the chunks. A gateway error before any audio marks
    the clip failed, refunds, and is raised."""
    response_format = str(settings.SPEECH_FORMAT)
    try:
        stream = await gateway_speech.open_speech(
            text=part.text,
            voice=voice,
            speed=float(speed),
            model=model(),
            response_format=response_format,
        )
    except GatewayError as exc:
        logger.warning("Read aloud: the gateway refused part %s: %s", part.index, exc)
        await sync_to_async(fail_purchase)(clip, error=exc.user_message, delivered=False)
        raise
    queue: asyncio.Queue[Any] = asyncio.Queue()
    extension = gateway_speech.EXTENSIONS.get(response_format, "bin")
    # A context of its own: the request's (its thread-sensitive executor, which ends with the
    # response) would be gone before the audio is stored.
    language = translation.get_language()
    _ended[clip.pk] = asyncio.Event()
    task = asyncio.create_task(
        _fetch(clip, stream, queue, extension, language), context=contextvars.Context()
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return stream.content_type, _relay(queue)


async def _fetch(
    clip: SpeechClip,
    stream: gateway_speech.SpeechStream,
    queue: asyncio.Queue[Any],
    extension: str,
    language: str | None,
) -> None:
    try:
        await _store(clip, stream, queue, extension, language)
    finally:
        queue.put_nowait(_END)
        ended = _ended.pop(clip.pk, None)
        if ended is not None:
            ended.set()


async def _store(
    clip: SpeechClip,
    stream: gateway_speech.SpeechStream,
    queue: asyncio.Queue[Any],
    extension: str,
    language: str | None,
) -> None:
    if language:
        translation.activate(language)
    fail, finish = _off_request(fail_purchase), _off_request(finish_purchase)
    data = bytearray()
    try:
        async for chunk in stream.chunks():
            data += chunk
            queue.put_nowait(chunk)
    except GatewayError as exc:
        logger.warning("Read aloud: part %s was cut off: %s", clip.index, exc)
        await fail(clip, error=exc.user_message, delivered=bool(data))
        return
    except BaseException:
        await asyncio.shield(fail(clip, error=_("Reading was interrupted."), delivered=bool(data)))
        raise
    try:
        if data:
            await finish(
                clip, data=bytes(data), content_type=stream.content_type, extension=extension
            )
        else:
            await fail(clip, error=_("The gateway sent no audio."), delivered=False)
    except Exception:
        logger.exception("Read aloud: could not store part %s", clip.index)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="speech-db")


def _off_request(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func` for a purchase's task, on threads of its own: the task outlives its request,
    and the shared database thread may be held by a request waiting for this very task."""

    @functools.wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(call, thread_sensitive=False, executor=_pool())


async def _relay(queue: asyncio.Queue[Any]) -> AsyncIterator[bytes]:
    while True:
        chunk = await queue.get()
        if chunk is _END:
            return
        yield chunk


async def wait_for(clip: SpeechClip, *, timeout: float) -> SpeechClip:
    """The clip once another request has finished buying it (or as it is after `timeout`):
    told by the purchase itself when it runs in this process, else by looking again."""
    ended = _ended.get(clip.pk)
    if ended is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await ended.wait()
        return await SpeechClip.objects.filter(pk=clip.pk).afirst() or clip
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while clip.status == SpeechClip.Status.PENDING and loop.time() < deadline:
        await asyncio.sleep(WAIT_STEP)
        fresh = await SpeechClip.objects.filter(pk=clip.pk).afirst()
        if fresh is None:
            break
        clip = fresh
    return clip


def clip_deleted(sender: Any, instance: SpeechClip, using: str, **kwargs: Any) -> None:
    """A deleted clip (its message or conversation deleted) takes its audio file with it once
    the deletion commits. Connected in ChatConfig.ready()."""
    name = instance.file.name if instance.file else ""
    if name:
        storage = instance.file.storage
        transaction.on_commit(lambda: storage.delete(name), using=using, robust=True)
