"""The media-job poller: submit queued jobs, poll the rest in batches, store, push.

One code path for both modes. Embedded (no REDIS_URL): `run_embedded_poller` is one of the
web process's BACKGROUND coroutines (config.startup). Scale mode: `manage.py runworker
media-jobs` runs media_jobs.worker, which starts the same `run_poller` on the first message
its channel gets; every web process sends one at start (`wake_worker_at_start`) and on each
create (`wake`). `manage.py poll_media_jobs --once` runs one pass.

A pass (`poll_once`): lease due jobs with one conditional UPDATE (MediaJob.objects.claim);
submit the QUEUED ones; fetch the others with one batch call per kind; apply each answer
through the model's transitions (which write only what changed); fail jobs past their
deadline; copy results into storage on success; cancel upstream the Midjourney tasks of
jobs the user cancelled (if the gateway can); push a refresh stub to the tabs only when
something changed; schedule the next poll (sooner after a change, backing off 2 s -> 15 s
otherwise), which also releases the lease. A poller that dies mid-pass leaves its lease to
lapse and another takes the job: a submit already started is never sent twice (the job
fails with a retry instead), a stored file is never stored twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from gateway import luma, midjourney, suno
from gateway.errors import GatewayError
from gateway.tasks import CANCELLED, FAILED, RUNNING, SUCCEEDED, TaskStatus, TaskSubmitted
from media_jobs import features as mj_features
from media_jobs import live, storage
from media_jobs.models import POLL_MAX_SECONDS, MediaJob
from usage import services as usage

logger = logging.getLogger(__name__)

CHANNEL = "media-jobs"
WAKE = {"type": "media.wake"}
MAX_DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_RETRY_SECONDS = (30, 120)
IDLE_SECONDS = POLL_MAX_SECONDS  # look again at least this often (jobs of other processes)
# Passes are at least this far apart unless a create wakes the loop: jobs falling due in
# between wait for the next pass, so one batch call per kind serves them all (a job is
# polled at most this much late). This is what keeps 1,000 jobs at ~90 requests a minute.
MIN_PASS_SECONDS = 2.0

Kind, Status = MediaJob.Kind, MediaJob.Status
FETCH_MANY: dict[str, Callable[[list[str]], Awaitable[list[TaskStatus]]]] = {
    Kind.MIDJOURNEY: midjourney.fetch_many,
    Kind.SUNO: suno.fetch_many,
    Kind.LUMA: luma.fetch_many,
}
FETCH_ONE: dict[str, Callable[[str], Awaitable[TaskStatus]]] = {
    Kind.MIDJOURNEY: midjourney.fetch,
    Kind.SUNO: suno.fetch,
    Kind.LUMA: luma.fetch,
}

# Reasons the poller gives, stored in the installation's language (LANGUAGE_CODE).
TIMED_OUT = gettext_noop("The task took too long and was stopped. Try again.")
SUBMIT_INTERRUPTED = gettext_noop(
    "The server stopped while sending this task, so it may or may not have started. Try again."
)
NO_PARENT = gettext_noop("The picture this job starts from is no longer available.")
UNKNOWN_ACTION = gettext_noop("This kind of task is not supported.")
NO_LINKS = gettext_noop("The gateway sent back no links for the uploaded images.")

_events: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
db = database_sync_to_async


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- one pass ------------------------------------------------------------------------


async def poll_once(owner: str | None = None) -> int:
    """One pass over the due jobs; returns how many jobs it handled."""
    owner = owner or default_owner()
    limit = int(settings.MEDIA_POLL_BATCH)
    jobs = await db(MediaJob.objects.claim)(owner, limit=limit)
    retries = await db(MediaJob.objects.claim)(owner, limit=limit, downloads=True)
    cancels = await db(MediaJob.objects.claim)(owner, limit=limit, cancels=True)
    queued = [job for job in jobs if job.status == Status.QUEUED]
    polled = [job for job in jobs if job.status != Status.QUEUED]
    await asyncio.gather(*(_submit(job, owner) for job in queued))
    by_kind: dict[str, list[MediaJob]] = defaultdict(list)
    for job in polled:
        by_kind[job.kind].append(job)
    polls: list[tuple[MediaJob, bool]] = []
    for kind, group in by_kind.items():
        statuses = await _fetch(kind, [job.upstream_id for job in group if job.upstream_id])
        changes = await asyncio.gather(*(_apply(j, statuses.get(j.upstream_id)) for j in group))
        polls += [(job, changed) for job, changed in zip(group, changes, strict=True)]
    still_active = [(job, changed) for job, changed in polls if job.is_active]
    if still_active:  # the next poll of each, and the lease's end, in a few UPDATEs
        await db(MediaJob.objects.schedule_polls)(still_active, owner=owner)
    await asyncio.gather(*(_push(job) for job, changed in polls if changed))
    await asyncio.gather(*(_retry_copy(job) for job in retries))
    await asyncio.gather(*(_cancel_upstream(job, owner) for job in cancels))
    return len(jobs) + len(retries) + len(cancels)


async def _fetch(kind: str, ids: list[str]) -> dict[str, TaskStatus]:
    """The answers of one batch call (Luma's batch route is optional: one by one without)."""
    if not ids:
        return {}
    try:
        return {s.task_id: s for s in await FETCH_MANY[kind](ids)}
    except GatewayError as exc:
        if kind != Kind.LUMA:
            logger.warning("Polling %d %s jobs failed: %s", len(ids), kind, exc)
            return {}
    answers = await asyncio.gather(*(FETCH_ONE[kind](i) for i in ids), return_exceptions=True)
    return {a.task_id: a for a in answers if isinstance(a, TaskStatus)}


async def _submit(job: MediaJob, owner: str) -> None:
    if job.submit_started_at is not None or not await db(_start_submit)(job, owner):
        # A poller died between starting the submit and recording it: the gateway may or
        # may not have the task. Never send it twice; the user can retry.
        if await db(job.mark_failed)(gettext(SUBMIT_INTERRUPTED)):
            await db(usage.refund_job)(job)
            await _push(job)
        return
    try:
        result = await answer_at_once(job)
        submitted = None if result is not None else await submit_upstream(job)
    except GatewayError as exc:
        changed = await db(job.mark_failed)(exc.user_message)
    except _CannotSubmit as exc:
        changed = await db(job.mark_failed)(gettext(exc.reason))
    else:
        if submitted is None:  # answered at once: done, nothing to poll or to copy
            changed = await db(job.mark_succeeded)(result_urls=[], result=result)
        else:
            changed = await db(job.mark_submitted)(submitted.task_id)
    if changed:
        await db(usage.charge_finished_job)(job)
        await _push(job)


def _start_submit(job: MediaJob, owner: str) -> bool:
    """Record, before the HTTP call, that a submit is under way (only the lease holder)."""
    now = timezone.now()
    count = MediaJob.objects.filter(
        pk=job.pk, status=Status.QUEUED, submit_started_at__isnull=True, lease_owner=owner
    ).update(submit_started_at=now)
    job.submit_started_at = now
    return count == 1


class _CannotSubmit(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def answer_at_once(job: MediaJob) -> dict[str, Any] | None:
    """The Midjourney calls that answer at once, with no task to poll: a finished picture's
    seed (IMAGE_SEED, from the parlor:seed button) and an upload to the Discord CDN
    (UPLOAD). Returns the job's `result` ({"seed"} or {"urls"}); None for any other job."""
    action = job.action.upper()
    if job.kind != Kind.MIDJOURNEY or job.button or action not in ("IMAGE_SEED", "UPLOAD"):
        return None
    if action == "IMAGE_SEED":
        parent_id = await db(_parent_upstream_id)(job) if job.parent_id is not None else ""
        if not parent_id:
            raise _CannotSubmit(NO_PARENT)
        return {"seed": await midjourney.image_seed(parent_id)}
    params: dict[str, Any] = job.params if isinstance(job.params, dict) else {}
    urls = await midjourney.upload(list(params.get("images") or []))
    # Shown as links on the card, never downloaded: web links only (no javascript: and such).
    urls = [url for url in urls if url.lower().startswith(("https://", "http://"))]
    if not urls:
        raise _CannotSubmit(NO_LINKS)
    return {"urls": urls}


async def submit_upstream(job: MediaJob) -> TaskSubmitted:
    """The upstream call for a job, by kind, action and params (see media_jobs.services)."""
    params: dict[str, Any] = job.params if isinstance(job.params, dict) else {}
    action = job.action.upper()
    parent_id = ""
    if job.parent_id is not None:
        parent_id = await db(_parent_upstream_id)(job)
        if not parent_id:
            raise _CannotSubmit(NO_PARENT)
    if job.kind == Kind.MIDJOURNEY:
        return await _submit_midjourney(job, action, params, parent_id)
    if job.kind == Kind.SUNO:
        if action == "LYRICS":
            return await suno.submit_lyrics(job.prompt)
        options = {k: params[k] for k in SUNO_OPTIONS if k in params}
        if parent_id and options.get("continue_clip_id"):
            options["continue_task_id"] = parent_id
        return await suno.submit(prompt=job.prompt, **options)
    if job.kind == Kind.LUMA:
        options = {k: params[k] for k in LUMA_OPTIONS if k in params}
        if action == "EXTEND" and parent_id:
            return await luma.extend(parent_id, job.prompt, **options)
        return await luma.submit(job.prompt, **options)
    raise _CannotSubmit(UNKNOWN_ACTION)


SUNO_OPTIONS = ("description", "title", "tags", "model", "instrumental", "continue_clip_id",
                "continue_at")  # fmt: skip
LUMA_OPTIONS = ("aspect_ratio", "start_image", "end_image", "loop", "expand_prompt")


async def _submit_midjourney(job: MediaJob, action: str, params: dict, parent_id: str):
    speed = params.get("speed") or None
    if job.button:
        if not parent_id:
            raise _CannotSubmit(NO_PARENT)
        submitted = await midjourney.action(parent_id, job.button, speed=speed)
    elif action == "IMAGINE":
        images = list(params.get("images") or [])
        niji = bool(params.get("niji"))
        submitted = await midjourney.imagine(job.prompt, images=images, niji=niji, speed=speed)
    elif action == "BLEND":
        dimensions = str(params.get("dimensions") or "SQUARE")
        submitted = await midjourney.blend(list(params.get("images") or []),
                                           dimensions=dimensions, speed=speed)  # fmt: skip
    elif action == "DESCRIBE":
        submitted = await midjourney.describe(str(params.get("image", "")), speed=speed)
    elif action == "SHORTEN":
        submitted = await midjourney.shorten(job.prompt, speed=speed)
    elif action == "SWAP_FACE":
        source, target = str(params.get("source", "")), str(params.get("target", ""))
        submitted = await midjourney.swap_face(source, target, speed=speed)
    else:
        raise _CannotSubmit(UNKNOWN_ACTION)
    if submitted.needs_modal:  # Vary Region, Custom Zoom, Remix: confirm the window
        prompt = str(params.get("modal_prompt") or job.prompt)
        mask = str(params.get("mask") or "")
        submitted = await midjourney.modal(submitted.task_id, prompt=prompt, mask=mask, speed=speed)
    return submitted


def _parent_upstream_id(job: MediaJob) -> str:
    return (
        MediaJob.objects.filter(pk=job.parent_id or job.pk)
        .values_list("upstream_id", flat=True)
        .first()
        or ""
    )


async def _apply(job: MediaJob, status: TaskStatus | None) -> bool:
    """Apply one answer (and copy the results of a success); the caller schedules the next
    poll and pushes. True if the job changed."""
    changed = await db(apply_status)(job, status)
    if changed and job.status == Status.SUCCEEDED:
        await _copy(job)
    return changed


def apply_status(job: MediaJob, status: TaskStatus | None, now=None) -> bool:
    """Move the job to what the gateway reported (None: no answer this time); a job still
    unfinished past its deadline fails. True if anything changed (and was written)."""
    now = now or timezone.now()
    changed = False
    if status is not None:
        if status.status == SUCCEEDED:
            changed = job.mark_succeeded(
                result_urls=list(status.result_urls),
                buttons=[_button(b) for b in status.buttons],
                result=jsonable(status.extras),
                now=now,
            )
        elif status.status == FAILED:
            error = status.error
            changed = job.mark_failed(error.user_message if error else gettext(TIMED_OUT), now=now)
        elif status.status == CANCELLED:
            changed = job.mark_cancelled(now=now)
        elif status.status == RUNNING:
            urls = list(status.result_urls) or None
            changed = job.mark_running(progress=status.progress, result_urls=urls)
    if job.is_active and job.is_past_deadline(now):
        changed = job.mark_failed(gettext(TIMED_OUT), now=now) or changed
    if changed:  # settle a success, refund a failure or cancellation
        usage.charge_finished_job(job)
    return changed


def _button(button) -> dict[str, str]:
    return {"customId": button.custom_id, "label": button.label, "emoji": button.emoji}


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --- cancelling upstream ------------------------------------------------------------------


async def _cancel_upstream(job: MediaJob, owner: str) -> None:
    """A job the user cancelled (services.cancel_job): cancel its Midjourney task too, so it
    stops running and is not billed to the key, if the gateway can (trueai-style proxies).
    Tried once; a failure is only logged, the job stays cancelled here either way."""
    try:
        if (await gateway_features()).get("cancel"):
            await midjourney.cancel(job.upstream_id)
    except GatewayError as exc:
        logger.warning("Cancelling job %s upstream (task %s) failed: %s",
                       job.pk, job.upstream_id, exc)  # fmt: skip
    finally:
        await db(_cancel_done)(job, owner)


def _cancel_done(job: MediaJob, owner: str) -> None:
    MediaJob.objects.filter(pk=job.pk, status=Status.CANCELLED, lease_owner=owner).update(
        next_poll_at=None, lease_owner="", lease_until=None
    )


# --- results ---------------------------------------------------------------------------


async def _copy(job: MediaJob) -> None:
    """Store a freshly succeeded job's files; remember what failed, to retry later."""
    missing = await storage.store_results(job)
    if missing:
        await db(_record_missing)(job, missing)


async def _retry_copy(job: MediaJob) -> None:
    missing = await storage.store_results(job)
    await db(_record_missing)(job, missing)
    await _push(job)


def _record_missing(job: MediaJob, missing: list[str]) -> None:
    attempts = job.download_attempts + 1 if missing else job.download_attempts
    retry = None
    if missing and attempts < MAX_DOWNLOAD_ATTEMPTS:
        delay = DOWNLOAD_RETRY_SECONDS[min(attempts, len(DOWNLOAD_RETRY_SECONDS)) - 1]
        retry = timezone.now() + timedelta(seconds=delay)
    job.missing_files, job.download_attempts, job.next_poll_at = missing, attempts, retry
    job.lease_owner, job.lease_until = "", None
    job.save(update_fields=["missing_files", "download_attempts", "next_poll_at",
                            "lease_owner", "lease_until", "updated_at"])  # fmt: skip


async def _push(job: MediaJob) -> None:
    try:
        await live.apush_job(job)
    except Exception:  # a push is a courtesy: the card is right on the next load anyway
        logger.exception("Pushing job %s failed", job.pk)


# --- the loop ----------------------------------------------------------------------------


def _event() -> asyncio.Event:
    loop = asyncio.get_running_loop()
    event = _events.get(loop)
    if event is None:
        event = _events[loop] = asyncio.Event()
    return event


def seconds_until_due(now=None) -> float:
    """How long until some job is due (at most IDLE_SECONDS)."""
    now = now or timezone.now()
    leased = Q(lease_until__gt=now)
    pending = MediaJob.objects.filter(next_poll_at__isnull=False)
    found = pending.exclude(leased).aggregate(at=Min("next_poll_at"))["at"]
    lease_end = pending.filter(leased).aggregate(at=Min("lease_until"))["at"]
    times = [t for t in (found, lease_end) if t is not None]
    if not times:
        return IDLE_SECONDS
    return max(0.0, min(IDLE_SECONDS, (min(times) - now).total_seconds()))


async def run_poller(owner: str | None = None, *, stop: asyncio.Event | None = None) -> None:
    """Poll until cancelled (or `stop` is set): a pass, then sleep until the next job is
    due (but at least MIN_PASS_SECONDS) or `wake()` is called, whichever comes first."""
    owner = owner or default_owner()
    event = _event()
    while stop is None or not stop.is_set():
        event.clear()
        try:
            await gateway_features()
            await poll_once(owner)
            delay = await db(seconds_until_due)()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("A media poller pass failed; trying again shortly")
            delay = POLL_MAX_SECONDS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(MIN_PASS_SECONDS, delay))


async def gateway_features() -> dict[str, bool]:
    """The gateway's optional Midjourney routes, asked for when the cache is empty (at start,
    then each time it lapses, every features.CACHE_SECONDS): pages only read the cache, and
    the Cancel button shows only once it says the gateway can cancel."""
    return await db(mj_features.cached)() or await mj_features.refresh()


async def run_embedded_poller() -> None:
    """The web process's poller (config.startup.BACKGROUND); in scale mode the workers poll."""
    if settings.REDIS_URL:
        return
    await run_poller()


def wake_local() -> None:
    """Wake the pollers running in this process (thread-safe)."""
    for loop, event in list(_events.items()):
        if loop.is_closed():
            _events.pop(loop, None)
            continue
        loop.call_soon_threadsafe(event.set)


async def awake() -> None:
    """`wake` from async code."""
    wake_local()
    if settings.REDIS_URL:
        await get_channel_layer().send(CHANNEL, dict(WAKE))


def wake() -> None:
    """A job was created or queued again: poll now. From sync or async code."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        wake_local()
        if settings.REDIS_URL:
            async_to_sync(get_channel_layer().send)(CHANNEL, dict(WAKE))
        return
    task = loop.create_task(awake())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[None]] = set()


def wake_worker_at_start(say: Callable[[str], object]) -> None:
    """Scale mode: a Channels worker makes its consumer only when a message reaches its
    channel, so every web process sends one as it starts (config.startup.BEFORE_SERVING)."""
    if settings.REDIS_URL:
        async_to_sync(get_channel_layer().send)(CHANNEL, dict(WAKE))
