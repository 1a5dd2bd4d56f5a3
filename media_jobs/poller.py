"""The media-job poller: submit queued jobs, poll the rest in batches, store, push.

One code path for both modes. Embedded (no REDIS_URL): `run_embedded_poller` is one of the
web process's BACKGROUND coroutines (config.startup). Scale mode: `manage.py runworker
media-jobs` runs media_jobs.worker, which starts the same `run_poller` as the worker starts
(config/management/commands/runworker.py); web processes wake it at their start
(`wake_worker_at_start`) and on each create (`wake`). `manage.py poll_media_jobs --once`
runs one pass.

A pass (`poll_once`): lease due jobs with one conditional UPDATE (MediaJob.objects.claim);
submit the QUEUED ones; fetch the others with one batch call per kind; apply each answer
through the model's transitions (which write only what changed, and charge a job that ends
in the same transaction); fail jobs past their deadline; keep a preview of a picture being
drawn; start the copies of finished jobs' results into storage as tasks beside the pass
(at most MEDIA_DOWNLOAD_WORKERS at once: a slow file never delays other jobs' polls);
cancel upstream the tasks of jobs cancelled
(or abandoned by a retry) where the provider can, retrying with a back-off while the
gateway does not answer; push a refresh stub to the tabs only when something changed;
schedule the next poll (sooner after a change, backing off 2 s -> 15 s otherwise, at most
3 s while the gateway does not answer, so a job is seen soon after it is back), which also
releases the lease; polls the gateway did not answer are counted per job, and the card says
so after two in a row (MediaJobQuerySet.record_polls). A poller that dies mid-pass leaves
its lease to lapse and another takes the job: a submit already started is never sent twice
(the job fails with a retry instead), a stored file is never stored twice. Every provider
is reached through its adapter (media_jobs.providers); once a minute the loop also hands
stale reservations to their closers (usage.sweep_reservations).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import socket
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import Min, Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from gateway.errors import GatewayError, GatewayTaskNotFound, GatewayTimeout
from gateway.tasks import CANCELLED, FAILED, RUNNING, SUCCEEDED, TaskStatus, TaskSubmitted
from media_jobs import live, storage, uploads
from media_jobs.models import LEASE_SECONDS, POLL_MAX_SECONDS, MediaFile, MediaJob
from media_jobs.providers import (
    NO_LINKS,
    NO_PARENT,
    UNKNOWN_ACTION,
    CannotSubmit,
    Immediate,
    adapter_for,
    gateway_features,
    image_features,
)
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
# An upstream cancel the gateway did not answer is tried again after these delays, then
# given up (logged): 5 tries over about 7 minutes.
CANCEL_RETRY_SECONDS = (10, 30, 90, 300)
# The longest one batch poll may take: past it the poll counts as unanswered (a slow gateway,
# with the client's read timeout of minutes, would otherwise hold every other job's poll
# and outlast the lease, models.LEASE_SECONDS).
FETCH_SECONDS = 15.0
# How often the loop hands stale reservations to their closers (usage.sweep_reservations).
SWEEP_SECONDS = 60.0

Kind, Status = MediaJob.Kind, MediaJob.Status
__all__ = ["NO_LINKS", "NO_PARENT", "UNKNOWN_ACTION", "gateway_features"]

# Reasons the poller gives, stored in the installation's language (LANGUAGE_CODE).
TIMED_OUT = gettext_noop("The task took too long and was stopped. Try again.")
SUBMIT_INTERRUPTED = gettext_noop(
    "The server stopped while sending this task, so it may or may not have started. Try again."
)

_events: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
db = database_sync_to_async


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- one pass ------------------------------------------------------------------------


async def poll_once(owner: str | None = None, *, wait: bool = True) -> int:
    """One pass over the due jobs; returns how many jobs it handled. Slow submits (an
    adapter with `submit_seconds`: the images API's 10-60 s calls) run beside the rest of
    the pass, each under its own long lease; with `wait=False` (the loop) the pass does not
    wait for them either, so one slow image never holds up the polls of other jobs."""
    owner = owner or default_owner()
    limit = int(settings.MEDIA_POLL_BATCH)
    # Cancels first: a task abandoned by a retry is cancelled even while its job is polled.
    cancels = await db(MediaJob.objects.claim)(owner, limit=limit, cancels=True)
    jobs = await db(MediaJob.objects.claim)(owner, limit=limit)
    queued = [job for job in jobs if job.status == Status.QUEUED]
    polled = [job for job in jobs if job.status != Status.QUEUED]
    slow = [job for job in queued if adapter_for(job.kind).submit_seconds() > 0]
    slow_tasks = [asyncio.ensure_future(_submit(job, owner)) for job in slow]
    await asyncio.gather(*(_submit(job, owner) for job in queued if job not in slow))
    by_kind: dict[str, list[MediaJob]] = defaultdict(list)
    for job in polled:
        by_kind[job.kind].append(job)
    answers: dict[str, dict[str, TaskStatus]] = {}
    answered: list[MediaJob] = []
    unanswered: list[MediaJob] = []
    for kind, group in by_kind.items():
        statuses = await _fetch(kind, [job.upstream_id for job in group if job.upstream_id])
        asked = [job for job in group if job.upstream_id]
        (answered if statuses is not None else unanswered).extend(asked)
        answers[kind] = statuses or {}
    # Before the answers are applied: a job seen ended has its notice gone already.
    notices = await db(MediaJob.objects.record_polls)(answered, unanswered)
    polls: list[tuple[MediaJob, bool]] = []
    for kind, group in by_kind.items():
        statuses = answers[kind]
        changes = await asyncio.gather(*(_apply(j, statuses.get(j.upstream_id)) for j in group))
        polls += [(job, changed) for job, changed in zip(group, changes, strict=True)]
    still_active = [(job, changed) for job, changed in polls if job.is_active]
    if still_active:  # the next poll of each, and the lease's end, in a few UPDATEs
        await db(MediaJob.objects.schedule_polls)(
            still_active, owner=owner, unanswered={job.pk for job in unanswered}
        )
    pushed = {job.pk: job for job, changed in polls if changed} | {j.pk: j for j in notices}
    await asyncio.gather(*(_push(job) for job in pushed.values()))
    await asyncio.gather(*(_cancel_upstream(job, owner) for job in cancels))
    copies = await _start_copies(owner)
    if wait:
        await asyncio.gather(*slow_tasks)
        copies.update(await _start_copies(owner))  # what the slow submits brought back
        await asyncio.gather(*copies.values())
    else:
        for task in slow_tasks:
            _in_flight.add(task)
            task.add_done_callback(_in_flight.discard)
    copied_only = copies.keys() - {job.pk for job in jobs}  # not polled in this pass too
    return len(jobs) + len(copied_only) + len(cancels)


# Slow submits a loop's pass did not wait for (cancelled with the loop: their jobs' leases
# lapse, and the next poller fails them as interrupted, refunded).
_in_flight: set[asyncio.Future[None]] = set()


async def _fetch(kind: str, ids: list[str]) -> dict[str, TaskStatus] | None:
    """The answers of one batch call of the kind's adapter; None if the gateway did not
    answer it (within FETCH_SECONDS: a slow gateway must not hold the whole pass)."""
    if not ids:
        return {}
    try:
        async with asyncio.timeout(FETCH_SECONDS):
            return {s.task_id: s for s in await adapter_for(kind).fetch_many(ids)}
    except (GatewayError, TimeoutError) as exc:
        reason = exc if isinstance(exc, GatewayError) else f"no answer in {FETCH_SECONDS:g} s"
        logger.warning("Polling %d %s jobs failed: %s", len(ids), kind, reason)
        return None


async def _submit(job: MediaJob, owner: str) -> None:
    if job.submit_started_at is not None or not await db(_start_submit)(job, owner):
        # A poller died between starting the submit and recording it: the gateway may or
        # may not have the task. Never send it twice; the user can retry.
        if await db(job.mark_failed)(gettext(SUBMIT_INTERRUPTED)):  # refunded with it
            await _push(job)
        return
    seconds = adapter_for(job.kind).submit_seconds() or None
    try:
        async with asyncio.timeout(seconds):
            answer = await submit_upstream(job)
    except GatewayError as exc:
        changed = await db(job.mark_failed)(exc.user_message)
    except CannotSubmit as exc:
        changed = await db(job.mark_failed)(gettext(exc.reason))
    except TimeoutError:
        changed = await db(job.mark_failed)(GatewayTimeout().user_message)
    else:
        if isinstance(answer, Immediate):  # answered at once: done, nothing to poll
            changed = await db(job.mark_succeeded)(
                result_urls=list(answer.result_urls), result=answer.result
            )
            for position, data in answer.inline if changed else ():  # bytes at hand
                await storage.store_inline(job, position, data)
            if changed and any(answer.result_urls):
                wake_local()  # a pass copies the linked ones now, not when next due
        else:
            changed = await db(job.mark_submitted)(answer.task_id)
    if changed:
        await _push(job)


def _start_submit(job: MediaJob, owner: str) -> bool:
    """Record, before the HTTP call, that a submit is under way (only the lease holder);
    a slow submit's lease is stretched to outlast the call."""
    now = timezone.now()
    fields: dict[str, Any] = {"submit_started_at": now}
    seconds = adapter_for(job.kind).submit_seconds()
    if seconds > 0:
        fields["lease_until"] = now + timedelta(seconds=max(LEASE_SECONDS, seconds + 30))
    count = MediaJob.objects.filter(
        pk=job.pk, status=Status.QUEUED, submit_started_at__isnull=True, lease_owner=owner
    ).update(**fields)
    job.submit_started_at = now
    return count == 1


async def submit_upstream(job: MediaJob) -> TaskSubmitted | Immediate:
    """The job's upstream call, through its kind's adapter (media_jobs.providers), with the
    task id of the job it starts from; CannotSubmit if that one has none (any more)."""
    parent_id = ""
    if job.parent_id is not None:
        parent_id = await db(_parent_upstream_id)(job)
        if not parent_id:
            raise CannotSubmit(NO_PARENT)
    # The pictures the params name are read from their files for this call only.
    sent = copy.copy(job)
    sent.params = await db(uploads.inline_params)(job)
    return await adapter_for(job.kind).submit(sent, parent_id)


def _parent_upstream_id(job: MediaJob) -> str:
    return (
        MediaJob.objects.filter(pk=job.parent_id or job.pk)
        .values_list("upstream_id", flat=True)
        .first()
        or ""
    )


async def _apply(job: MediaJob, status: TaskStatus | None) -> bool:
    """Apply one answer (copy the results of a success, keep the preview of a picture being
    drawn); the caller schedules the next poll and pushes. True if the job changed."""
    changed = await db(apply_status)(job, status)
    if changed and job.status == Status.RUNNING and status is not None:
        url = adapter_for(job.kind).preview_url(status)
        if url:
            await storage.store_preview(job, url)
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
    return changed  # a job that ended was charged by its transition


def _button(button) -> dict[str, str]:
    return {"customId": button.custom_id, "label": button.label, "emoji": button.emoji}


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --- cancelling upstream ------------------------------------------------------------------


async def _cancel_upstream(job: MediaJob, owner: str) -> None:
    """Cancel `job.cancel_task_id` at the gateway (a job the user cancelled, or the task a
    retry abandoned), so it stops running and is not billed to the key, where the provider
    can (its adapter says when there is no route: nothing is sent). A gateway that does not
    answer is asked again after CANCEL_RETRY_SECONDS, then the cancel is given up (logged);
    the job stays as it is here either way."""
    task_id, attempts = job.cancel_task_id, job.cancel_attempts + 1
    retry_in: int | None = None
    try:
        if await adapter_for(job.kind).cancel(task_id):
            logger.info("Cancelled task %s of job %s upstream", task_id, job.pk)
    except GatewayTaskNotFound:
        pass  # nothing left to cancel
    except GatewayError as exc:
        if attempts <= len(CANCEL_RETRY_SECONDS):
            retry_in = CANCEL_RETRY_SECONDS[attempts - 1]
            logger.warning("Cancelling job %s upstream (task %s) failed, trying again in %d s: %s",
                           job.pk, task_id, retry_in, exc)  # fmt: skip
        else:
            logger.warning("Cancelling job %s upstream (task %s) failed %d times; giving up: %s",
                           job.pk, task_id, attempts, exc)  # fmt: skip
    await db(_cancel_done)(job, owner, retry_in)


def _cancel_done(job: MediaJob, owner: str, retry_in: int | None) -> None:
    if retry_in is None:
        fields: dict[str, Any] = {"cancel_task_id": "", "cancel_at": None}
    else:
        fields = {"cancel_at": timezone.now() + timedelta(seconds=retry_in)}
    fields["cancel_attempts"] = job.cancel_attempts + 1
    MediaJob.objects.filter(pk=job.pk, lease_owner=owner, cancel_task_id=job.cancel_task_id).update(
        lease_owner="", lease_until=None, **fields
    )


# --- results ---------------------------------------------------------------------------


# Copies run beside the polling: a pass hands them to tasks of their own (at most
# MEDIA_DOWNLOAD_WORKERS at once per process) and does not wait for them, so a result that
# drips in slowly never delays the polls of other jobs. A job to copy is one the database
# says is due (`downloads_due`: just succeeded, or a failed copy's retry), leased for as
# long as its downloads may take; a process that dies mid-copy leaves the lease to lapse
# and whoever polls next copies what is still missing.
_copies: set[asyncio.Future[None]] = set()


def _copy_lease_seconds() -> int:
    """Long enough for one file; stretched again before each (`_renew_copy_lease`), so a
    copy cut short is taken up again within minutes, not after all its files' time."""
    return int(LEASE_SECONDS + float(settings.MEDIA_DOWNLOAD_SECONDS))


def _renew_copy_lease(job: MediaJob, owner: str) -> None:
    until = timezone.now() + timedelta(seconds=_copy_lease_seconds())
    MediaJob.objects.filter(pk=job.pk, lease_owner=owner).update(lease_until=until)


async def _start_copies(owner: str) -> dict[Any, asyncio.Future[None]]:
    """Lease the jobs whose copies are due, as many as there are free workers, and start
    their copies; returns their tasks by job id (the caller may wait for them)."""
    loop = asyncio.get_running_loop()
    busy = sum(1 for task in _copies if task.get_loop() is loop)
    free = int(settings.MEDIA_DOWNLOAD_WORKERS) - busy
    if free <= 0:
        return {}
    jobs = await db(MediaJob.objects.claim)(
        owner, limit=free, downloads=True, lease_seconds=_copy_lease_seconds()
    )
    tasks: dict[Any, asyncio.Future[None]] = {
        job.pk: asyncio.ensure_future(_copy(job, owner)) for job in jobs
    }
    for task in tasks.values():
        _copies.add(task)
        task.add_done_callback(_copies.discard)
    return tasks


async def _copy(job: MediaJob, owner: str) -> None:
    """Store a succeeded job's files (they replace the preview); remember what failed, to
    retry later; push the card."""

    async def renew() -> None:
        await db(_renew_copy_lease)(job, owner)

    try:
        missing = await storage.store_results(job, before_each=renew)
        await db(_drop_preview)(job)
        await db(_record_missing)(job, missing)
    except asyncio.CancelledError:
        raise
    except Exception:  # its lease lapses and the copy is tried again
        logger.exception("Copying the results of job %s failed", job.pk)
        return
    await _push(job)


def _drop_preview(job: MediaJob) -> None:
    MediaFile.objects.filter(job=job, kind=MediaFile.Kind.PREVIEW).delete()


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
    pending = MediaJob.objects.filter(Q(next_poll_at__isnull=False) | ~Q(cancel_task_id=""))
    found = pending.exclude(leased).aggregate(poll=Min("next_poll_at"), cancel=Min("cancel_at"))
    lease_end = pending.filter(leased).aggregate(at=Min("lease_until"))["at"]
    times = [t for t in (found["poll"], found["cancel"], lease_end) if t is not None]
    if not times:
        return IDLE_SECONDS
    return max(0.0, min(IDLE_SECONDS, (min(times) - now).total_seconds()))


async def run_poller(owner: str | None = None, *, stop: asyncio.Event | None = None) -> None:
    """Poll until cancelled (or `stop` is set): a pass, then sleep until the next job is
    due (but at least MIN_PASS_SECONDS) or `wake()` is called, whichever comes first."""
    owner = owner or default_owner()
    event = _event()
    try:
        await _loop(owner, event, stop)
    except BaseException:
        for task in _in_flight_here():
            task.cancel()
        raise
    finally:
        for task in _copies_here():  # taken up again by the next poller (their leases lapse)
            task.cancel()
    await asyncio.gather(*_in_flight_here(), return_exceptions=True)  # stopped: let them end


def _copies_here() -> list[asyncio.Future[None]]:
    loop = asyncio.get_running_loop()
    return [task for task in _copies if task.get_loop() is loop]


def _in_flight_here() -> list[asyncio.Future[None]]:
    loop = asyncio.get_running_loop()
    return [task for task in _in_flight if task.get_loop() is loop]


async def _loop(owner: str, event: asyncio.Event, stop: asyncio.Event | None) -> None:
    swept = 0.0
    while stop is None or not stop.is_set():
        event.clear()
        try:
            await gateway_features()
            await image_features()
            await poll_once(owner, wait=False)
            if time.monotonic() - swept >= SWEEP_SECONDS:
                swept = time.monotonic()
                await db(usage.sweep_reservations)()
            delay = await db(seconds_until_due)()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("A media poller pass failed; trying again shortly")
            delay = POLL_MAX_SECONDS
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(MIN_PASS_SECONDS, delay)):
                await event.wait()


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
