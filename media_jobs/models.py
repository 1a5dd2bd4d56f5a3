"""Media jobs: one row per upstream task (a Midjourney picture, a Suno song, a Luma video, an
image of the images API).

A job is submitted by the server, polled by the poller (media_jobs.poller) and ends
succeeded, failed or cancelled. Its privacy is the team-owned rule of accounts.models.TeamOwned:
a job in a conversation is shared exactly when its conversation is (media_jobs.signals keeps
the two in step), a job started outside one is private to its creator until shared.

State changes are the methods below; each changes only the fields it names and returns
whether anything changed, so the poller writes (and pushes) only on change. A transition that
ends a job charges it in the same transaction (media_jobs.billing: a success is settled, a
failure or cancellation refunded), so no crash can leave the one without the other.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Collection
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from accounts.models import TeamOwned, TeamOwnedQuerySet

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# Poll spacing: the first poll comes soon, then each poll that finds nothing new waits
# longer, up to the ceiling (the gateway itself refreshes tasks only every ~15 s).
POLL_FIRST_SECONDS = 2.0
POLL_MAX_SECONDS = 15.0
POLL_BACKOFF = 1.5
# While the gateway does not answer a job's polls, the next poll comes at most this long after
# the last (a job backed off to POLL_MAX_SECONDS too), so it is seen soon after the gateway
# is back; the card says so once this many polls in a row failed.
POLL_OUTAGE_SECONDS = 3.0
POLL_FAILURE_NOTICE = 2
FAILURES_CEILING = 10_000  # the count stops here (a small integer column)
# A claimed job is the claimer's until its lease runs out; a worker that dies mid-pass
# simply lets it lapse and another worker takes the job, within this long. A pass holds a
# job for its batch poll (at most poller.FETCH_SECONDS); a slow submit leases its own longer.
LEASE_SECONDS = 25
# How long a job may run before it is failed as stuck.
DEFAULT_DEADLINE = timedelta(minutes=20)


class MediaJobQuerySet(TeamOwnedQuerySet):
    def active(self) -> Self:
        return self.filter(status__in=MediaJob.ACTIVE)

    def due(self, now=None) -> Self:
        """Active jobs whose next poll is due and which no live lease holds."""
        now = now or timezone.now()
        unleased = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
        return self.active().filter(unleased, next_poll_at__lte=now)

    def schedule_polls(self, polled: list[tuple[MediaJob, bool]], *, owner: str, now=None,
                       unanswered: Collection[Any] = ()) -> int:  # fmt: skip
        """`schedule_next_poll` for many jobs at once: one UPDATE per distinct new interval
        (there are only a handful), touching only jobs `owner` still leases; the jobs whose
        poll the gateway did not answer (ids in `unanswered`) come again within
        POLL_OUTAGE_SECONDS. Returns the number of UPDATE statements."""
        now = now or timezone.now()
        groups: dict[float, list] = {}
        for job, changed in polled:
            job.poll_interval = next_interval(job.poll_interval, changed=changed)
            if job.pk in unanswered:
                job.poll_interval = min(job.poll_interval, POLL_OUTAGE_SECONDS)
            job.next_poll_at = now + timedelta(seconds=job.poll_interval)
            job.lease_owner, job.lease_until = "", None
            groups.setdefault(job.poll_interval, []).append(job.pk)
        for interval, ids in groups.items():
            MediaJob.objects.filter(pk__in=ids, lease_owner=owner).update(
                poll_interval=interval,
                next_poll_at=now + timedelta(seconds=interval),
                lease_owner="",
                lease_until=None,
            )
        return len(groups)

    def record_polls(self, answered: list[MediaJob], unanswered: list[MediaJob],
                     now=None) -> list[MediaJob]:  # fmt: skip
        """Count the polls the gateway did not answer (no answer at all: refused, timed out,
        an error or a page that is not the API's) in a row, from when; an answered poll ends
        the count. At most two UPDATEs. Returns the jobs whose card changes: those whose
        count just reached POLL_FAILURE_NOTICE, and those that showed the notice and were
        answered now."""
        now = now or timezone.now()
        shown_until_now = [job for job in answered if job.gateway_unreachable]
        back = [job.pk for job in answered if job.poll_failures]
        if back:
            self.filter(pk__in=back).update(poll_failures=0, unreachable_since=None)
            for job in answered:
                job.poll_failures, job.unreachable_since = 0, None
        if unanswered:
            self.filter(pk__in=[job.pk for job in unanswered]).update(
                poll_failures=Least(F("poll_failures") + 1, Value(FAILURES_CEILING)),
                unreachable_since=Coalesce(F("unreachable_since"), Value(now)),
            )
            for job in unanswered:
                job.poll_failures = min(job.poll_failures + 1, FAILURES_CEILING)
                job.unreachable_since = job.unreachable_since or now
        notice = [job for job in unanswered if job.poll_failures == POLL_FAILURE_NOTICE]
        return shown_until_now + notice

    def downloads_due(self, now=None) -> Self:
        """Succeeded jobs whose result copy failed and whose retry is due (unleased)."""
        now = now or timezone.now()
        unleased = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
        return self.filter(unleased, status=MediaJob.Status.SUCCEEDED, next_poll_at__lte=now)

    def cancels_due(self, now=None) -> Self:
        """Jobs with an upstream task still to be cancelled (`cancel_task_id`) whose next try
        is due (unleased): services.cancel_job and retry_job mark them, the poller calls the
        gateway, trying again with a back-off while it does not answer."""
        now = now or timezone.now()
        unleased = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
        return self.filter(unleased, cancel_at__lte=now).exclude(cancel_task_id="")

    def claim(self, owner: str, *, limit: int = 100, lease_seconds: int = LEASE_SECONDS,
              downloads: bool = False, cancels: bool = False) -> list:  # fmt: skip
        """Lease up to `limit` due jobs to `owner` and return them (with `downloads`, the
        succeeded jobs whose result copy is due for a retry instead; with `cancels`, the
        cancelled jobs whose upstream task is to be cancelled).

        One conditional UPDATE does the claiming: a job another poller leased in between no
        longer matches `due()`, so two pollers never hold the same job.
        """
        now = timezone.now()
        which = "downloads_due" if downloads else "cancels_due" if cancels else "due"
        due = getattr(MediaJob.objects, which)
        mine = getattr(self, which)(now)
        order = "cancel_at" if cancels else "next_poll_at"
        ids = list(mine.order_by(order).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        lease_until = now + timedelta(seconds=lease_seconds)
        due(now).filter(pk__in=ids).update(lease_owner=owner, lease_until=lease_until)
        return list(MediaJob.objects.filter(pk__in=ids, lease_owner=owner, lease_until=lease_until))


class MediaJob(TeamOwned):
    class Kind(models.TextChoices):
        MIDJOURNEY = "midjourney", _("Midjourney")
        SUNO = "suno", _("Suno")
        LUMA = "luma", _("Luma")
        IMAGE = "image", _("Image")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SUBMITTED = "submitted", _("Submitted")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE = (Status.QUEUED, Status.SUBMITTED, Status.RUNNING)
    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        "chat.Conversation",
        models.CASCADE,
        null=True,
        blank=True,
        related_name="media_jobs",
        verbose_name=_("conversation"),
    )
    # The user message (a slash command) that started the job, shown next to it in the thread.
    message = models.ForeignKey(
        "chat.Message",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="media_jobs",
        verbose_name=_("message"),
    )
    parent = models.ForeignKey(
        "self",
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent job"),
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # The upstream action: IMAGINE, UPSCALE, VARIATION, BLEND, MUSIC, LYRICS, GENERATE, EXTEND…
    action = models.CharField(_("action"), max_length=40)
    # The button pressed on the parent (Midjourney customId, or U1/V2… as shown), if any.
    button = models.CharField(_("button"), max_length=300, blank=True)
    prompt = models.TextField(_("prompt"), blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    upstream_id = models.CharField(_("upstream id"), max_length=200, blank=True, db_index=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    # Midjourney buttons as the gateway returned them: [{customId, label, emoji, style}].
    buttons = models.JSONField(_("buttons"), default=list, blank=True)
    # Upstream result URLs (they expire; MediaFile rows hold our own copies).
    result_urls = models.JSONField(_("result URLs"), default=list, blank=True)
    # What the task returned besides files: Suno titles/lyrics/tags, describe's prompts…
    result = models.JSONField(_("result"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    cost = models.DecimalField(_("cost"), max_digits=12, decimal_places=6, null=True, blank=True)
    # A double click or a resent form submits once.
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, blank=True)
    # Set (in its own write) just before the upstream submit: a poller that finds it set on a
    # job still QUEUED knows a submit may have reached the gateway and never sends a second.
    submit_started_at = models.DateTimeField(_("submit started at"), null=True, blank=True)
    # Result URLs not yet copied into storage (a download failed; the poller retries a few
    # times, the job stays succeeded with the upstream links meanwhile).
    missing_files = models.JSONField(_("missing files"), default=list, blank=True)
    download_attempts = models.PositiveSmallIntegerField(_("download attempts"), default=0)
    next_poll_at = models.DateTimeField(_("next poll at"), null=True, blank=True)
    poll_interval = models.FloatField(_("poll interval"), default=POLL_FIRST_SECONDS)
    lease_owner = models.CharField(_("lease owner"), max_length=100, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    deadline = models.DateTimeField(_("deadline"), null=True, blank=True)
    # When the status or the progress last moved: a job active with no progress for
    # MEDIA_STUCK_MINUTES counts as stuck (`is_stuck`), offered Cancel and Retry.
    last_progress_at = models.DateTimeField(_("last progress at"), null=True, blank=True)
    # An upstream task to cancel (the job's own after a cancel, or the abandoned one of a
    # stuck job retried), when to try next, and how many tries failed (media_jobs.poller).
    cancel_task_id = models.CharField(_("task to cancel upstream"), max_length=200, blank=True)
    cancel_at = models.DateTimeField(_("next upstream cancel at"), null=True, blank=True)
    cancel_attempts = models.PositiveSmallIntegerField(_("upstream cancel attempts"), default=0)
    # Polls in a row the gateway did not answer, and since when (MediaJobQuerySet.record_polls):
    # the card says the gateway cannot be reached until one is answered.
    poll_failures = models.PositiveSmallIntegerField(_("unanswered polls"), default=0)
    unreachable_since = models.DateTimeField(_("gateway unreachable since"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    objects = MediaJobQuerySet.as_manager()  # type: ignore[misc]  # TeamOwned's, extended

    class Meta:
        verbose_name = _("media job")
        verbose_name_plural = _("media jobs")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_poll_at"]),
            models.Index(fields=["team", "-created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="unique_job_idempotency_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.action} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def title(self) -> StrOrPromise:
        """The card's title in plain words ("Imagine", "Upscale 2", "Continue song")."""
        from media_jobs.providers import adapter_for

        return adapter_for(self.kind).title(self)

    @property
    def minutes_without_progress(self) -> int:
        since = self.last_progress_at or self.created_at
        if since is None:
            return 0
        return max(0, int((timezone.now() - since).total_seconds() // 60))

    @property
    def gateway_unreachable(self) -> bool:
        """Active, and the last POLL_FAILURE_NOTICE polls or more got no answer."""
        return self.is_active and self.poll_failures >= POLL_FAILURE_NOTICE

    @property
    def is_stuck(self) -> bool:
        """Active, and nothing moved for settings.MEDIA_STUCK_MINUTES."""
        return self.is_active and self.minutes_without_progress >= stuck_minutes()

    def may_cancel(self, user, membership) -> bool:
        """Its creator or an owner of its team may cancel it (and retry it while stuck)."""
        if membership is None or membership.team_id != self.team_id:
            return False
        return self.created_by_id == user.pk or membership.role == membership.Role.OWNER

    # State transitions. Each saves only what it changed (nothing if nothing did) and says so.

    def mark_submitted(self, upstream_id: str, *, now=None) -> bool:
        """The gateway accepted the task: poll it soon, fail it if it outlives its deadline."""
        now = now or timezone.now()
        self.upstream_id = upstream_id
        self.status = self.Status.SUBMITTED
        self.poll_interval = POLL_FIRST_SECONDS
        self.next_poll_at = now + timedelta(seconds=POLL_FIRST_SECONDS)
        self.deadline = self.deadline or now + DEFAULT_DEADLINE
        self.last_progress_at = now
        self.lease_owner, self.lease_until = "", None  # the submitter's lease ends here
        if self._save("upstream_id", "status", "poll_interval", "next_poll_at", "deadline",
                      "last_progress_at", "lease_owner", "lease_until"):  # fmt: skip
            return True
        from media_jobs.providers import adapter_for

        if self.status == self.Status.CANCELLED and adapter_for(self.kind).cancels_upstream:
            # Cancelled while this submit was in flight: keep the task's id and mark it to
            # be cancelled, as services.cancel_job does, so the poller cancels it upstream too.
            MediaJob.objects.filter(
                pk=self.pk, status=self.Status.CANCELLED, upstream_id=""
            ).update(upstream_id=upstream_id, cancel_task_id=upstream_id, cancel_at=now)
        return False

    def mark_running(self, *, progress: int | None = None, result_urls: list[str] | None = None,
                     result: dict[str, Any] | None = None) -> bool:  # fmt: skip
        """The task is under way (again): record progress and previews if they moved."""
        changes: dict[str, Any] = {"status": self.Status.RUNNING}
        if progress is not None:
            changes["progress"] = clamp_progress(progress)
        if result_urls is not None:
            changes["result_urls"] = result_urls
        if result is not None:
            changes["result"] = result
        return self._apply(changes)

    def mark_succeeded(self, *, result_urls: list[str], buttons: list[dict] | None = None,
                       result: dict[str, Any] | None = None, now=None) -> bool:  # fmt: skip
        """Succeeded; its results are due to be copied at once (`downloads_due`: the poller
        copies them beside its polling, and after a crash whoever polls next does)."""
        changes: dict[str, Any] = {
            "status": self.Status.SUCCEEDED,
            "progress": 100,
            "result_urls": result_urls,
            "error": "",
            "next_poll_at": now or timezone.now(),
        }
        if buttons is not None:
            changes["buttons"] = buttons
        if result is not None:
            changes["result"] = result
        return self._finish(changes, now)

    def mark_failed(self, error: str, *, now=None) -> bool:
        """Failed, with the reason in plain words (shown to the user, with a retry)."""
        return self._finish({"status": self.Status.FAILED, "error": error}, now)

    def mark_cancelled(self, *, now=None) -> bool:
        return self._finish({"status": self.Status.CANCELLED}, now)

    def schedule_next_poll(self, *, changed: bool, now=None) -> None:
        """After a poll: soon again if the task moved, later and later if it did not.
        Releases the lease in the same write."""
        now = now or timezone.now()
        self.poll_interval = next_interval(self.poll_interval, changed=changed)
        self.next_poll_at = now + timedelta(seconds=self.poll_interval)
        self.lease_owner, self.lease_until = "", None
        self._save("poll_interval", "next_poll_at", "lease_owner", "lease_until")

    def is_past_deadline(self, now=None) -> bool:
        return self.deadline is not None and (now or timezone.now()) > self.deadline

    def _finish(self, changes: dict[str, Any], now) -> bool:
        """End the job and charge it (media_jobs.billing.close) in ONE transaction: a
        failure of either leaves both undone (and this object as the database holds it)."""
        if self.is_finished:
            return False  # a finished job stays as it ended
        from media_jobs import billing

        changes.setdefault("next_poll_at", None)
        changes.update(finished_at=now or timezone.now(), lease_owner="", lease_until=None)
        try:
            with transaction.atomic():
                if not self._apply(changes):
                    return False
                billing.close(self)
        except Exception:
            self.refresh_from_db()
            raise
        return True

    def _apply(self, changes: dict[str, Any]) -> bool:
        changed = [name for name, value in changes.items() if getattr(self, name) != value]
        if not changed or (self.is_finished and "finished_at" not in changes):
            return False
        if "status" in changed or "progress" in changed:
            self.last_progress_at = timezone.now()
            changed.append("last_progress_at")
        for name in changed:
            if name != "last_progress_at":
                setattr(self, name, changes[name])
        return self._save(*changed)

    def _save(self, *fields: str) -> bool:
        """Write `fields` only while the job is still active in the database. A job that
        ended elsewhere meanwhile (the user cancelled it while a submit or a poll of it was in
        flight) stays as it ended: nothing is written, this object is reloaded, and the
        transition reports no change (so nothing is charged or pushed for it)."""
        self.updated_at = timezone.now()
        values = {name: getattr(self, name) for name in (*fields, "updated_at")}
        if MediaJob.objects.filter(pk=self.pk, status__in=self.ACTIVE).update(**values):
            return True
        self.refresh_from_db()
        return False


def stuck_minutes() -> int:
    return max(1, int(settings.MEDIA_STUCK_MINUTES))


def stuck_before(now=None) -> Any:
    """Jobs whose progress last moved before this time (and still active) are stuck."""
    return (now or timezone.now()) - timedelta(minutes=stuck_minutes())


def next_interval(interval: float, *, changed: bool) -> float:
    """Soon again after a change, else back off up to the ceiling."""
    if changed:
        return POLL_FIRST_SECONDS
    return min(interval * POLL_BACKOFF, POLL_MAX_SECONDS)


def clamp_progress(value: Any) -> int:
    """A progress number the gateway reported, as 0-100 (bad values count as 0)."""
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(0, min(100, number))


class MediaFile(models.Model):
    """One result of a job copied into our own storage: served only to those who may see
    the job (media_jobs.views), never from the upstream URL, which expires."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        AUDIO = "audio", _("Audio")
        VIDEO = "video", _("Video")
        COVER = "cover", _("Cover")
        # A low-resolution picture of a Midjourney task while it is drawn (one per job,
        # replaced as it moves, removed when the job succeeds).
        PREVIEW = "preview", _("Preview")

    job = models.ForeignKey(MediaJob, models.CASCADE, related_name="files")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    position = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to="media_jobs/%Y/%m/", max_length=300)
    thumbnail = models.FileField(upload_to="media_jobs/thumbs/%Y/%m/", max_length=300,
                                 blank=True)  # fmt: skip
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    source_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["job", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["job", "kind", "position"], name="unique_job_file"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.position} of {self.job_id}"

    @property
    def download_name(self) -> str:
        """A file name people recognise: the prompt's first words, the job's title, the
        file's number among several of its kind, the extension of its type, e.g.
        `red-fox-at-dawn-upscale-2.png`."""
        job = self.job
        params = job.params if isinstance(job.params, dict) else {}
        words = (job.prompt or str(params.get("description") or "")).split()[:6]
        parts = [slugify(" ".join(words)) or job.kind, slugify(str(job.title))]
        if self.kind in (self.Kind.COVER, self.Kind.PREVIEW):
            parts.append(self.kind)
        siblings = [f for f in job.files.all() if f.kind == self.kind]
        if len(siblings) > 1:
            parts.append(str(self.position + 1))
        stem = "-".join(part for part in parts if part)[:120].strip("-") or "file"
        return f"{stem}.{file_extension(self.content_type, self.file.name or '')}"


_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "video/mp4": "mp4",
    "video/webm": "webm",
}


def file_extension(content_type: str, name: str = "") -> str:
    """The usual extension of a media type (else the stored name's, else "bin")."""
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type in _EXTENSIONS:
        return _EXTENSIONS[content_type]
    guessed = mimetypes.guess_extension(content_type) if content_type else None
    if guessed:
        return guessed.lstrip(".")
    suffix = name.rpartition(".")[2] if "." in name else ""
    return suffix.lower() if suffix.isalnum() and len(suffix) <= 5 else "bin"


class JobUpload(models.Model):
    """A picture a member sent with a job (a reference image, a frame, a picture to edit, a
    mask), kept as a file: the job's params name it (media_jobs.uploads), and the bytes are
    read only to make the gateway call. Never served; it goes with its job."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.ForeignKey(MediaJob, models.CASCADE, related_name="uploads")
    position = models.PositiveSmallIntegerField(default=0)
    file = models.FileField(upload_to="media_jobs/uploads/%Y/%m/", max_length=300)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["job", "position"]

    def __str__(self) -> str:
        return f"upload {self.position} of {self.job_id}"
