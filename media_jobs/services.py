"""Creating, retrying and cancelling media jobs: sync database work for the views.

Nothing here calls the gateway. Each change and its charge (media_jobs.billing) commit in one
transaction: create reserves, cancel refunds, retry refunds what the old run held and
reserves the new one. A view creates the QUEUED row and returns; the poller
(media_jobs.poller) makes the upstream submit. After the transaction commits, the open tabs
are told (media_jobs.live) and the poller is woken (media_jobs.poller.wake).

`params` are the options of the upstream call, by kind and action (media_jobs.poller.submit):
Midjourney IMAGINE `images` (pictures: `upload:<id>` references to JobUpload files, which
`create_job` makes of the forms' data URLs; media_jobs.uploads), `niji`, `speed`
(fast/relax/turbo); a button press (action = the button's action, `button` = its
customId, `parent` = the job it is on) `speed`, and for a modal flow `mask` /
`modal_prompt`; BLEND `images`, `dimensions`; DESCRIBE `image`; SHORTEN none; SWAP_FACE
`source`, `target`; UPLOAD `images` and IMAGE_SEED (with `parent`) answer at once, no task
to poll (their `result`: `urls`, `seed`). Suno MUSIC the keywords of gateway.suno.submit
(`description`, `title`, `tags`, `model`, `instrumental`, `continue_clip_id`,
`continue_at`; the prompt is the lyrics in custom mode); LYRICS none. Luma GENERATE
`aspect_ratio`, `start_image`, `end_image`, `loop`, `expand_prompt`; EXTEND (with
`parent`) the same.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    F,
    PositiveSmallIntegerField,
    Q,
    Value,
    When,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Membership
from media_jobs import billing, uploads
from media_jobs.models import DEFAULT_DEADLINE, JobUpload, MediaFile, MediaJob, stuck_before
from media_jobs.providers import adapter_for

Status = MediaJob.Status


def create_job(
    *,
    user,
    membership,
    kind: str,
    action: str,
    prompt: str = "",
    params: dict[str, Any] | None = None,
    conversation=None,
    parent: MediaJob | None = None,
    button: str = "",
    idempotency_key: str = "",
) -> MediaJob:
    """Save a QUEUED job, due at once, as private as its conversation (private to its
    creator outside one). The same `idempotency_key` from the same user returns the first
    job, also when two requests race."""
    if membership.user_id != user.pk:
        raise ValueError("the membership is not the user's")
    if conversation is not None and conversation.team_id != membership.team_id:
        raise ValueError("the conversation is in another team")
    if parent is not None and parent.team_id != membership.team_id:
        raise ValueError("the parent job is in another team")
    if kind not in MediaJob.Kind.values:
        raise ValueError(f"unknown kind {kind!r}")
    key = (idempotency_key or "")[:64]
    if key and (existing := _by_key(user, key)) is not None:
        return existing
    now = timezone.now()
    job = MediaJob(
        team_id=membership.team_id,
        created_by=user,
        is_shared=bool(conversation is not None and conversation.is_shared),
        conversation=conversation,
        parent=parent,
        kind=kind,
        action=action,
        button=button,
        prompt=prompt,
        params=dict(params or {}),
        idempotency_key=key,
        next_poll_at=now,
        deadline=now + DEFAULT_DEADLINE,
        last_progress_at=now,
    )
    # Pictures go to files, the params keep references (media_jobs.uploads).
    job.params, made = uploads.extract(job, job.params)
    try:
        with transaction.atomic():
            _check_active_allowance(user.pk, membership.team_id)
            _check_upload_allowance(user, membership, sum(upload.size for upload in made))
            job.save()
            JobUpload.objects.bulk_create(made)
            # Reserved before the poller can submit it; refused (usage.services.BudgetRefused,
            # a ValidationError saying why), the job is never saved.
            billing.reserve(job, role=membership.role)
    except IntegrityError:
        uploads.delete_files(made)
        if key and (existing := _by_key(user, key)) is not None:
            return existing  # the other request of a double click won the race
        raise
    except BaseException:
        uploads.delete_files(made)
        raise
    _after_commit(job, added=True)
    return job


def _check_active_allowance(user_id: int | None, team_id: int) -> None:
    """ValidationError if the member has MEDIA_MAX_ACTIVE_JOBS_PER_MEMBER jobs queued or
    running in the team already (0: no limit). The member's row is locked first, so two
    creates at once are counted one after the other (PostgreSQL; SQLite writes one at a
    time anyway)."""
    limit = int(settings.MEDIA_MAX_ACTIVE_JOBS_PER_MEMBER)
    if limit <= 0 or user_id is None:
        return
    Membership.objects.select_for_update().filter(user_id=user_id, team_id=team_id).first()
    active = MediaJob.objects.filter(team_id=team_id, created_by_id=user_id).active()
    if active.count() >= limit:
        raise ValidationError(
            ngettext(
                "You may have at most %(count)d job queued or running at once; wait for it "
                "to finish, or cancel it.",
                "You may have at most %(count)d jobs queued or running at once; wait for one "
                "to finish, or cancel one.",
                limit,
            )
            % {"count": limit},
            code="too_many_jobs",
        )


def _check_upload_allowance(user, membership, adding: int) -> None:
    """ValidationError if the pictures of the member's active jobs and `adding` bytes more
    would pass MEDIA_MAX_UPLOAD_BYTES_PER_MEMBER (0: no limit)."""
    limit = int(settings.MEDIA_MAX_UPLOAD_BYTES_PER_MEMBER)
    if limit <= 0 or adding <= 0:
        return
    if uploads.bytes_held(user, membership) + adding > limit:
        raise ValidationError(
            _("Your jobs in progress already hold %(mb)s MB of pictures, the most one member "
              "may; wait for one to finish, or cancel one.")
            % {"mb": f"{limit / 1024 / 1024:g}"},
            code="too_many_upload_bytes",
        )  # fmt: skip


def retryable(now=None) -> Q:
    """Jobs a retry may re-queue: failed, cancelled, or stuck (active with no progress for
    MEDIA_STUCK_MINUTES and no poller holding them right now)."""
    now = now or timezone.now()
    unleased = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    quiet = Q(last_progress_at__lt=stuck_before(now)) | Q(
        last_progress_at__isnull=True, created_at__lt=stuck_before(now)
    )
    return Q(status__in=(Status.FAILED, Status.CANCELLED)) | (
        Q(status__in=MediaJob.ACTIVE) & quiet & unleased
    )


def retry_job(job: MediaJob) -> bool:
    """Queue a failed, cancelled or stuck job again (the same row, a fresh start). A stuck
    job's task is abandoned: cancelled upstream too, where the provider can (the poller
    does it). What the old run still held is refunded and the new run reserved in the same
    transaction as the re-queue (over budget: BudgetRefused, and the job stays as it was).
    A second click finds it queued already and changes nothing. The caller checks the user
    may write it (and may cancel it, if it is active)."""
    now = timezone.now()
    with _atomic_for(job):
        current = MediaJob.objects.filter(retryable(now), pk=job.pk).first()
        if current is None:
            return False
        if not current.is_active:  # a stuck job is counted already
            _check_active_allowance(current.created_by_id, current.team_id)
        abandoned = ""
        if current.is_active and adapter_for(current.kind).cancels_upstream:
            abandoned = current.upstream_id
        cancel = (
            {"cancel_task_id": abandoned, "cancel_at": now, "cancel_attempts": 0}
            if abandoned
            else {}
        )
        same = {"status": current.status, "upstream_id": current.upstream_id}
        count = MediaJob.objects.filter(retryable(now), pk=job.pk, **same).update(
            status=Status.QUEUED,
            upstream_id="",
            progress=0,
            error="",
            buttons=[],
            result_urls=[],
            result={},
            submit_started_at=None,
            missing_files=[],
            download_attempts=0,
            next_poll_at=now,
            poll_interval=MediaJob._meta.get_field("poll_interval").default,
            lease_owner="",
            lease_until=None,
            deadline=now + DEFAULT_DEADLINE,
            last_progress_at=now,
            finished_at=None,
            updated_at=now,
            **cancel,
        )
        if not count:
            return False
        job.refresh_from_db()
        billing.release(job)  # what a stuck run (or a crash) left reserved
        billing.reserve(job)  # a new upstream call: refused, all of this rolls back
    # The new run stores its own results; the stored files go after the commit
    # (media_jobs.signals: storage.delete_stored_files for every deleted MediaFile).
    MediaFile.objects.filter(job=job).delete()
    _after_commit(job)
    return True


def cancel_job(job: MediaJob) -> bool:
    """Stop an active job of any kind: it ends cancelled, is polled no more, its result is
    dropped and its reservation refunded, in one transaction. A task already submitted
    upstream is marked to be cancelled there (`cancel_task_id`) where the provider may
    have a route: the poller makes that call, retrying with a back-off (a view never waits
    on the gateway). The caller checks the user may cancel it (MediaJob.may_cancel)."""
    now = timezone.now()
    upstream = ~Q(upstream_id="")
    # A task to cancel already pending (the abandoned one of a stuck job retried) stays.
    task: Any = F("cancel_task_id")
    due: Any = F("cancel_at")
    attempts: Any = F("cancel_attempts")
    if adapter_for(job.kind).cancels_upstream:
        task = Case(When(upstream, then=F("upstream_id")), default=task, output_field=CharField())
        due = Case(When(upstream, then=Value(now)), default=due, output_field=DateTimeField())
        attempts = Case(When(upstream, then=Value(0)), default=attempts,
                        output_field=PositiveSmallIntegerField())  # fmt: skip
    with _atomic_for(job):
        count = MediaJob.objects.filter(pk=job.pk, status__in=MediaJob.ACTIVE).update(
            status=Status.CANCELLED,
            finished_at=now,
            next_poll_at=None,
            lease_owner="",
            lease_until=None,
            cancel_task_id=task,
            cancel_at=due,
            cancel_attempts=attempts,
            updated_at=now,
        )
        if not count:
            return False
        job.refresh_from_db()
        billing.close(job)  # refunded at once: the result is dropped, so it is not charged
    _after_commit(job)
    return True


def sync_conversation_jobs(conversation) -> int:
    """Give every job of `conversation` its sharing (media_jobs.signals calls this); the
    team's tabs are told to refresh those cards (a card no longer shared fetches as gone)."""
    stale = MediaJob.objects.filter(conversation=conversation).exclude(
        is_shared=conversation.is_shared
    )
    jobs = list(stale)
    if not jobs:
        return 0
    count = MediaJob.objects.filter(pk__in=[job.pk for job in jobs]).update(
        is_shared=conversation.is_shared, updated_at=timezone.now()
    )

    def tell() -> None:
        from accounts.live import push_fragment, team_group
        from media_jobs.live import job_changed_frame

        for job in jobs:
            push_fragment(team_group(job.team_id), job_changed_frame(job))

    transaction.on_commit(tell)
    return count


@contextlib.contextmanager
def _atomic_for(job: MediaJob) -> Iterator[None]:
    """One transaction for a change of `job` and its charge; if either fails, both are
    undone and `job` is brought back to what the database holds."""
    try:
        with transaction.atomic():
            yield
    except Exception:
        job.refresh_from_db()
        raise


def _by_key(user, key: str) -> MediaJob | None:
    return MediaJob.objects.filter(created_by=user, idempotency_key=key).first()


def _after_commit(job: MediaJob, *, added: bool = False) -> None:
    from media_jobs import live, poller

    def tell() -> None:
        (live.push_job_added if added else live.push_job)(job)
        poller.wake()

    transaction.on_commit(tell)
