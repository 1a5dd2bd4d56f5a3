"""The background loop that embeds messages for search by meaning (chat.search).

A pass (`embed_pass`) looks at up to PICK messages without a vector of the current
settings.EMBEDDING_MODEL (what members wrote and complete replies), groups them by team and
conversation owner (who is charged), and sends each group in requests within the gateway's
limits: at most BATCH_INPUTS inputs and about BATCH_TOKENS tokens a request, each text cut
to INPUT_CHARS. Each request is reserved before it goes upstream (an estimate) and settled
for the tokens the gateway counted in the transaction that stores its vectors, replacing a
message's vector of another model: so changing EMBEDDING_MODEL re-embeds every message, and
a process that stops loses nothing (the rows that exist are the state; the next pass takes
the rest). A group whose budget refuses, or whose request fails, is left out for
REFUSED_RETRY_SECONDS / FAILED_RETRY_SECONDS and the others go on.

It runs in the embedded web process as a BACKGROUND coroutine (config.startup:
`run_embedded_embedder`; a message saved complete wakes it), and in scale mode beside the
media poller in `manage.py runworker media-jobs` (media_jobs.worker starts
`ensure_running`). Several workers keep off each other's groups with a short lock in the
cache (Redis in scale mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Exists, OuterRef, Q

from accounts.models import Membership, Team, User
from chat import search
from chat.models import Message, MessageEmbedding
from gateway import embeddings as gateway_embeddings
from gateway.errors import GatewayError
from usage import services as usage
from usage.models import UsageRecord

logger = logging.getLogger(__name__)

PICK = 500
BATCH_INPUTS = 96
BATCH_TOKENS = 8_000
# ~2,000 tokens of English; even a text of only CJK characters stays under the gateway's
# 8,192 tokens per input.
INPUT_CHARS = 4_000
IDLE_SECONDS = 15.0
REFUSED_RETRY_SECONDS = 300.0
FAILED_RETRY_SECONDS = 60.0
LOCK_SECONDS = 600
# A store that loses a deadlock (PostgreSQL: a reply's final save locks the same month and
# conversation rows in the other order) is tried again this many times, this long apart.
STORE_TRIES = 3
STORE_RETRY_SECONDS = 0.2

db = database_sync_to_async
Group = tuple[int, int]  # (team id, owner id)

# Groups left out until a time.monotonic() value (this process's memory: a restart retries).
_skipped: dict[Group, float] = {}
# The width the gateway answers for (model, dimensions asked), once seen: a row of another
# width is then out of date too (EMBEDDING_DIMENSIONS changed).
_answered_dims: dict[tuple[str, int], int] = {}


@dataclass
class Batch:
    team_id: int
    owner_id: int
    # (message id, conversation id, text)
    items: list[tuple[int, uuid.UUID, str]] = field(default_factory=list)
    tokens: int = 0


def estimate_tokens(text: str) -> int:
    """On the high side: a character each outside ASCII (CJK), four per token within."""
    ascii_chars = sum(1 for c in text if c < "\x80")
    return max(1, (ascii_chars + 3) // 4 + len(text) - ascii_chars)


def input_text(content: str) -> str:
    return " ".join(content[: INPUT_CHARS * 2].split())[:INPUT_CHARS]


def pending(model: str):
    """The searchable messages without a vector of `model` (of the current width, once
    known)."""
    current = MessageEmbedding.objects.filter(message=OuterRef("pk"), model=model)
    # The width asked for, until the gateway has shown it answers another (a channel that
    # ignores `dimensions`): then the width it answers.
    wanted = search.wanted_dimensions(model)
    dims = _answered_dims.get((model, wanted), wanted or None)
    if dims is not None:
        current = current.filter(dims=dims)
    return search.searchable_messages().filter(~Exists(current))


def _skip_filter() -> Q:
    now = time.monotonic()
    for group, until in list(_skipped.items()):
        if until <= now:
            _skipped.pop(group, None)
    q = Q()
    for team_id, owner_id in _skipped:
        q |= Q(conversation__team_id=team_id, conversation__created_by_id=owner_id)
    return q


def groups_due(model: str) -> list[Group]:
    """The (team, owner) groups with messages to embed, oldest message first."""
    rows = (
        pending(model)
        .exclude(_skip_filter())
        .order_by("pk")
        .values_list("conversation__team_id", "conversation__created_by_id")[:PICK]
    )
    return list(OrderedDict.fromkeys(rows))


def batches_of(model: str, group: Group) -> list[Batch]:
    """The group's pending messages (up to PICK) in requests within the limits."""
    team_id, owner_id = group
    rows = (
        pending(model)
        .filter(conversation__team_id=team_id, conversation__created_by_id=owner_id)
        .order_by("pk")
        .values_list("pk", "conversation_id", "content")[:PICK]
    )
    batches: list[Batch] = []
    batch = Batch(team_id, owner_id)
    for pk, conversation_id, content in rows:
        text = input_text(content)
        if not text:
            continue
        tokens = estimate_tokens(text)
        if batch.items and (
            len(batch.items) >= BATCH_INPUTS or batch.tokens + tokens > BATCH_TOKENS
        ):
            batches.append(batch)
            batch = Batch(team_id, owner_id)
        batch.items.append((pk, conversation_id, text))
        batch.tokens += tokens
    if batch.items:
        batches.append(batch)
    return batches


def reserve(batch: Batch, model: str) -> UsageRecord:
    """Reserve the batch's estimate on its team and owner; BudgetRefused if they cannot pay."""
    team = Team.objects.get(pk=batch.team_id)
    owner = User.objects.get(pk=batch.owner_id)
    role = (
        Membership.objects.filter(team=team, user=owner).values_list("role", flat=True).first()
        or Membership.Role.MEMBER
    )
    price = usage.quote(model, prompt_tokens=batch.tokens)
    with transaction.atomic():
        return usage.reserve(
            team=team,
            user=owner,
            role=role,
            kind=UsageRecord.Kind.EMBEDDING,
            model=model,
            amount=price.amount,
            default_price=price.default_price,
            prompt_tokens=batch.tokens,
        )


def store(
    batch: Batch, result: gateway_embeddings.Embeddings, record: UsageRecord, model: str
) -> int:
    """Write the batch's vectors (replacing older ones) and settle its charge, together."""
    ids = [pk for pk, _, _ in batch.items]
    with transaction.atomic():
        alive = set(Message.objects.filter(pk__in=ids).values_list("pk", flat=True))
        MessageEmbedding.objects.filter(message_id__in=ids).delete()
        rows = [
            MessageEmbedding(
                message_id=pk,
                team_id=batch.team_id,
                conversation_id=conversation_id,
                model=model,
                dims=result.dims,
                vector=vector,
            )
            for (pk, conversation_id, _), vector in zip(batch.items, result.vectors, strict=True)
            if pk in alive
        ]
        MessageEmbedding.objects.bulk_create(rows)
        search.store_pgvector(rows)
        search.charge(record, model=model, reported=result.prompt_tokens, estimate=batch.tokens)
    search.vectors_changed(batch.team_id, model)
    return len(rows)


async def embed_batch(batch: Batch, model: str) -> int:
    """Reserve, send, store: the number of messages embedded. BudgetRefused before anything
    goes upstream; GatewayError after refunding."""
    record = await db(reserve)(batch, model)
    dims = search.wanted_dimensions(model)
    try:
        result = await gateway_embeddings.embed(
            [text for _, _, text in batch.items], model=model, dimensions=dims
        )
    except GatewayError:
        await db(usage.refund)(record)
        raise
    _answered_dims[(model, dims)] = result.dims
    for attempt in range(1, STORE_TRIES + 1):
        try:
            return await db(store)(batch, result, record, model)
        except IntegrityError:  # a conversation deleted meanwhile: its messages went with it
            await db(usage.refund)(record)
            logger.info("Embeddings of deleted messages dropped; the next pass goes on")
            return 0
        except OperationalError:
            if attempt == STORE_TRIES:
                raise  # the record stays reserved: the sweep refunds it, a later pass redoes
            logger.info("Storing embeddings failed (try %s), trying again", attempt)
            await asyncio.sleep(STORE_RETRY_SECONDS * attempt)
    raise AssertionError("unreachable")


async def embed_pass(model: str | None = None) -> int:
    """One pass over what is due; the number of messages embedded."""
    model = model or settings.EMBEDDING_MODEL
    done = 0
    for group in await db(groups_due)(model):
        lock = f"embedding-worker:{model}:{group[0]}:{group[1]}"
        if not await db(cache.add)(lock, 1, LOCK_SECONDS):
            continue  # another worker has it
        try:
            done += await _embed_group(group, model)
        finally:
            await db(cache.delete)(lock)
    return done


async def _embed_group(group: Group, model: str) -> int:
    done = 0
    for batch in await db(batches_of)(model, group):
        try:
            done += await embed_batch(batch, model)
        except usage.BudgetRefused:
            _skipped[group] = time.monotonic() + REFUSED_RETRY_SECONDS
            logger.info("Embeddings of team %s, member %s wait: budget refused", *group)
            break
        except GatewayError as exc:
            _skipped[group] = time.monotonic() + FAILED_RETRY_SECONDS
            logger.warning("Embedding a batch of team %s failed: %s", group[0], exc)
            break
    return done


_events: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}


def _event() -> asyncio.Event:
    loop = asyncio.get_running_loop()
    event = _events.get(loop)
    if event is None:
        event = _events[loop] = asyncio.Event()
    return event


def wake_local() -> None:
    """Wake the embedders running in this process (thread-safe)."""
    for loop, event in list(_events.items()):
        if loop.is_closed():
            _events.pop(loop, None)
            continue
        loop.call_soon_threadsafe(event.set)


def message_saved(sender, instance: Message, **kwargs) -> None:
    """A message saved complete (connected in ChatConfig.ready): embed it soon, without
    waiting out IDLE_SECONDS (in this process; the others look every IDLE_SECONDS)."""
    if instance.status == Message.Status.COMPLETE and instance.content:
        wake_local()


async def run_embedder(*, stop: asyncio.Event | None = None) -> None:
    """Embed until cancelled (or `stop` is set): passes back to back while there is work,
    then one every IDLE_SECONDS or when a message is saved complete."""
    event = _event()
    while stop is None or not stop.is_set():
        event.clear()
        try:
            done = await embed_pass()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("An embedding pass failed; trying again shortly")
            done = 0
        if not done:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_SECONDS):
                    await event.wait()


async def run_embedded_embedder() -> None:
    """The web process's embedder (config.startup.BACKGROUND); in scale mode the media-jobs
    workers run it (media_jobs.worker)."""
    if settings.REDIS_URL:
        return
    await run_embedder()


_running: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def ensure_running() -> asyncio.Task[None]:
    """Start the embedder on the running loop unless it runs there already."""
    loop = asyncio.get_running_loop()
    task = _running.get(loop)
    if task is None or task.done():
        task = _running[loop] = loop.create_task(run_embedder(), name="embedder")
    return task
