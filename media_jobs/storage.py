"""Copying a succeeded job's results into Django's default storage as MediaFile rows (and
storing the pictures an images-API answer carried inline, `store_inline`).

Upstream links expire; our copies are served to team members only (media_jobs views).
Every file goes through gateway.download (the checks against hostile URLs live there).
A (job, kind, position) is stored once: a second poller that races to the same file finds
the row there (unique constraint) and drops its copy. A Midjourney task being drawn keeps one
small preview (`store_preview`), replaced at most every PREVIEW_SECONDS.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway import download as dl
from gateway.errors import GatewayError
from media_jobs.models import MediaFile, MediaJob

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = (384, 384)
THUMBNAIL_MAX_PIXELS = 64_000_000
# A Luma result may be an animated GIF on some gateways (the demo serves one).
EXPECT: dict[str, frozenset[str]] = {
    MediaFile.Kind.IMAGE: dl.IMAGE_TYPES,
    MediaFile.Kind.COVER: dl.IMAGE_TYPES,
    MediaFile.Kind.AUDIO: dl.AUDIO_TYPES,
    MediaFile.Kind.VIDEO: dl.VIDEO_TYPES | {"image/gif"},
    MediaFile.Kind.PREVIEW: dl.IMAGE_TYPES,
}
# A preview is replaced at most this often per job, and never bigger than this.
PREVIEW_SECONDS = 10.0
PREVIEW_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Wanted:
    kind: str
    position: int
    url: str


def wanted_files(job: MediaJob) -> list[Wanted]:
    """The files a succeeded job should have in storage, by kind."""
    result = job.result if isinstance(job.result, dict) else {}
    if job.kind == MediaJob.Kind.SUNO:
        wanted = []
        for index, clip in enumerate(result.get("clips") or []):
            if not isinstance(clip, dict):
                continue
            if clip.get("audio_url"):
                wanted.append(Wanted(MediaFile.Kind.AUDIO, index, str(clip["audio_url"])))
            if clip.get("image_url"):
                wanted.append(Wanted(MediaFile.Kind.COVER, index, str(clip["image_url"])))
        return wanted
    if job.kind == MediaJob.Kind.LUMA:
        wanted = [Wanted(MediaFile.Kind.VIDEO, 0, str(url)) for url in job.result_urls[:1]]
        if result.get("thumbnail_url"):
            wanted.append(Wanted(MediaFile.Kind.COVER, 0, str(result["thumbnail_url"])))
        return wanted
    # An images-API item that came inline (b64_json) has no URL: it was stored at once.
    return [
        Wanted(MediaFile.Kind.IMAGE, i, str(url)) for i, url in enumerate(job.result_urls) if url
    ]


def max_files() -> int:
    return int(settings.MEDIA_MAX_FILES_PER_JOB)


def max_job_bytes() -> int:
    return int(float(settings.MEDIA_MAX_BYTES_PER_JOB))


async def store_results(
    job: MediaJob, before_each: Callable[[], Awaitable[object]] | None = None
) -> list[str]:
    """Download what is not stored yet; return the URLs that could not be copied. A job
    keeps at most MEDIA_MAX_FILES_PER_JOB files and MEDIA_MAX_BYTES_PER_JOB bytes: each
    download may take only what is left of that allowance, and what lies beyond it is
    skipped for good (logged), not retried. `before_each` is awaited before each download
    (the poller stretches its lease there)."""
    stored = await sync_to_async(_stored)(job)
    left = max_job_bytes() - sum(stored.values())
    missing = []
    for index, want in enumerate(wanted_files(job)):
        if (want.kind, want.position) in stored:
            continue
        if index >= max_files() or left <= 0:
            logger.warning(
                "Job %s: not copying %s: over the job's allowance of %d files and %d bytes",
                job.pk, want.url[:200], max_files(), max_job_bytes(),
            )  # fmt: skip
            continue
        if before_each is not None:
            await before_each()
        try:
            got = await dl.download(want.url, expect=EXPECT[want.kind],
                                    limit=min(dl.max_bytes(), left))  # fmt: skip
        except GatewayError as exc:
            logger.warning("Job %s: not copying %s: %s", job.pk, want.url[:200], exc)
            missing.append(want.url)
            continue
        if await sync_to_async(save_file)(job, want, got) is not None:
            left -= len(got.data)
    return missing


async def store_inline(job: MediaJob, position: int, data: bytes) -> bool:
    """Store a picture the gateway sent inline (an images-API `b64_json` item, already held
    to a download's rules by gateway.images) as the job's image at `position`, once."""
    if position >= max_files():
        logger.warning("Job %s: not storing inline image %d: over the job's allowance of %d "
                       "files", job.pk, position, max_files())  # fmt: skip
        return False
    try:
        checked = dl.checked_bytes(data, expect=EXPECT[MediaFile.Kind.IMAGE])
    except GatewayError as exc:
        logger.warning("Job %s: not storing inline image %d: %s", job.pk, position, exc)
        return False
    got = dl.Downloaded(url="", content_type=dl.sniff(checked[:64]), data=checked)
    want = Wanted(MediaFile.Kind.IMAGE, position, "")
    return await sync_to_async(save_file)(job, want, got) is not None


def _stored(job: MediaJob) -> dict[tuple[str, int], int]:
    """(kind, position) -> size of the job's stored files (a preview is replaced, so it
    does not count against the job's allowance)."""
    files = MediaFile.objects.filter(job=job).exclude(kind=MediaFile.Kind.PREVIEW)
    return {(kind, position): size for kind, position, size
            in files.values_list("kind", "position", "size")}  # fmt: skip


async def store_preview(job: MediaJob, url: str) -> bool:
    """Keep `url` (a low-resolution picture of the task being drawn) as the job's one
    preview, unless the one stored is younger than PREVIEW_SECONDS. Downloaded through
    gateway.download like every result (never hot-linked), small; a failure only skips
    this preview. True if a preview was stored."""
    last = await sync_to_async(_preview_time)(job)
    if last is not None and timezone.now() - last < timedelta(seconds=PREVIEW_SECONDS):
        return False
    try:
        got = await dl.download(url, expect=EXPECT[MediaFile.Kind.PREVIEW], limit=PREVIEW_MAX_BYTES)
    except GatewayError as exc:
        logger.info("Job %s: no preview from %s: %s", job.pk, url[:200], exc)
        return False
    return await sync_to_async(_replace_preview)(job, url, got)


def _preview_time(job: MediaJob):
    previews = MediaFile.objects.filter(job=job, kind=MediaFile.Kind.PREVIEW)
    return previews.values_list("created_at", flat=True).first()


def _replace_preview(job: MediaJob, url: str, got: dl.Downloaded) -> bool:
    """The new preview in place of the old one, while the job is still being drawn (its
    stored files go after the commit: media_jobs.signals)."""
    with transaction.atomic():
        if not MediaJob.objects.filter(pk=job.pk, status__in=MediaJob.ACTIVE).exists():
            return False
        MediaFile.objects.filter(job=job, kind=MediaFile.Kind.PREVIEW).delete()
        want = Wanted(MediaFile.Kind.PREVIEW, 0, url)
        return save_file(job, want, got, thumbnail_too=False) is not None


def save_file(
    job: MediaJob, want: Wanted, got: dl.Downloaded, *, thumbnail_too: bool = True
) -> MediaFile | None:
    name = f"{job.pk.hex}-{want.kind}-{want.position}.{got.extension}"
    media = MediaFile(
        job=job,
        kind=want.kind,
        position=want.position,
        content_type=got.content_type,
        size=len(got.data),
        source_url=want.url[:2000],
    )
    media.file.save(name, ContentFile(got.data), save=False)
    if thumbnail_too and got.content_type.startswith("image/"):
        thumb = thumbnail(got.data)
        if thumb is not None:
            media.thumbnail.save(f"{job.pk.hex}-{want.kind}-{want.position}.jpg",
                                 ContentFile(thumb), save=False)  # fmt: skip
    try:
        with transaction.atomic():
            media.save()
    except IntegrityError:  # another poller stored this file first
        delete_stored_files(media)
        return None
    return media


def delete_stored_files(media: MediaFile) -> None:
    """Remove a MediaFile's file and thumbnail from storage. A file already gone is no
    error; nor is a storage that fails (logged): the row's fate does not hang on its files.

    Deleting MediaFile rows calls this after the commit (media_jobs.signals), cascades and
    queryset deletes included; call it directly only for files whose row was never saved.
    """
    for stored in (media.file, media.thumbnail):
        if not stored or not stored.name:
            continue
        try:
            stored.storage.delete(stored.name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("Could not delete %s from storage: %s", stored.name, exc)


def thumbnail(data: bytes) -> bytes | None:
    """A small JPEG of an image (its first frame), or None if Pillow cannot read it."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > THUMBNAIL_MAX_PIXELS:
                return None
            image.thumbnail(THUMBNAIL_SIZE)
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=82)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
