"""Pictures sent with a job, kept as files (JobUpload) instead of inside its params.

The forms check an upload and hand it on as a data URL; `create_job` moves every data URL
in the params into a JobUpload (metadata stripped: `clean_image`) and leaves a reference,
`upload:<id>`, in its place. Only the gateway call turns references back into data URLs
(`inline_params`, at submit), so listing jobs, the gallery and the poller's passes never
read the bytes. Params of jobs made before this (data URLs inline) are read as they are;
migration 0008 moves them into files.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
from typing import Any

from django.core.files.base import ContentFile

logger = logging.getLogger(__name__)

PREFIX = "upload:"
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
# Pillow formats re-encoded without their metadata (a GIF carries none worth the re-encode).
FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
MAX_PIXELS = 64_000_000


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def decode_data_url(value: Any) -> tuple[str, bytes] | None:
    """(content type, bytes) of an image data URL; None for anything else."""
    if not isinstance(value, str) or not value.startswith("data:image/"):
        return None
    head, _comma, payload = value.partition(",")
    content_type = head[len("data:") :].split(";")[0].strip().lower()
    try:
        return content_type, base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def clean_image(data: bytes, content_type: str) -> bytes:
    """The picture without its metadata (EXIF: GPS position, camera, time; XMP; text
    chunks), turned as its EXIF orientation said first, so it looks the same. Bytes Pillow
    cannot read, or a type it is not asked to re-encode, are kept as they are."""
    fmt = FORMATS.get(content_type)
    if fmt is None:
        return data
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                return data
            carries = bool(image.getexif()) or any(
                key in image.info for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment")
            ) or bool(getattr(image, "text", None))  # fmt: skip
            if not carries:
                return data
            turned = ImageOps.exif_transpose(image)
            out = io.BytesIO()
            options: dict[str, Any] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
            if fmt == "JPEG" and turned.mode not in ("RGB", "L", "CMYK"):
                turned = turned.convert("RGB")
            turned.save(out, fmt, **options)
            return out.getvalue()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return data


def _walk(value: Any, change) -> Any:
    """`value` with `change` applied to every string in it (lists and dicts followed)."""
    if isinstance(value, list):
        return [_walk(item, change) for item in value]
    if isinstance(value, dict):
        return {key: _walk(item, change) for key, item in value.items()}
    if isinstance(value, str):
        return change(value)
    return value


def extract(job: Any, params: dict[str, Any], upload_model: Any = None) -> tuple[dict, list]:
    """(params with every image data URL replaced by a reference, the unsaved uploads
    holding them, their files already in storage). `upload_model`: a migration's model."""
    if upload_model is None:
        from media_jobs.models import JobUpload as upload_model
    made: list = []

    def move(value: str) -> str:
        decoded = decode_data_url(value)
        if decoded is None:
            return value
        content_type, data = decoded
        data = clean_image(data, content_type)
        upload = upload_model(job_id=job.pk, position=len(made), content_type=content_type,
                              size=len(data))  # fmt: skip
        name = f"{job.pk.hex}-{len(made)}.{EXTENSIONS.get(content_type, 'bin')}"
        upload.file.save(name, ContentFile(data), save=False)
        made.append(upload)
        return f"{PREFIX}{upload.pk}"

    return _walk(params, move), made


def delete_files(made: list) -> None:
    """Remove the stored files of uploads whose rows were never saved."""
    for upload in made:
        try:
            upload.file.storage.delete(upload.file.name)
        except OSError as exc:
            logger.warning("Could not delete %s from storage: %s", upload.file.name, exc)


def inline_params(job: Any) -> dict[str, Any]:
    """The job's params with each reference replaced by its picture as a data URL, for the
    gateway call (sync: reads the database and the files)."""
    from media_jobs.models import JobUpload

    params = job.params if isinstance(job.params, dict) else {}
    ids: list[str] = []
    _walk(params, lambda value: ids.append(value[len(PREFIX) :]) if is_reference(value) else None)
    if not ids:
        return params
    urls: dict[str, str] = {}
    for upload in JobUpload.objects.filter(job_id=job.pk, pk__in=ids):
        with upload.file.open("rb") as stored:
            data = stored.read()
        urls[str(upload.pk)] = (
            f"data:{upload.content_type};base64,{base64.b64encode(data).decode('ascii')}"
        )

    def put_back(value: str) -> str:
        return urls.get(value[len(PREFIX) :], "") if is_reference(value) else value

    return _walk(params, put_back)


def move_inline_images(job_model: Any, upload_model: Any) -> int:
    """Move the data URLs in existing jobs' params into files (migration 0008; the models
    are the migration's). Returns how many jobs changed."""
    moved = 0
    jobs = job_model.objects.order_by("pk").values_list("pk", flat=True)
    for pk in list(jobs.iterator()):
        job = job_model.objects.only("pk", "params").get(pk=pk)
        if not isinstance(job.params, dict) or "data:image/" not in str(job.params):
            continue
        params, made = extract(job, job.params, upload_model)
        upload_model.objects.bulk_create(made)
        job_model.objects.filter(pk=pk).update(params=params)
        moved += 1
    return moved


def bytes_held(user: Any, membership: Any) -> int:
    """The bytes of the pictures of the member's active jobs in the team."""
    from django.db.models import Sum

    from media_jobs.models import JobUpload, MediaJob

    held = JobUpload.objects.filter(
        job__team_id=membership.team_id,
        job__created_by=user,
        job__status__in=MediaJob.ACTIVE,
    ).aggregate(total=Sum("size"))["total"]
    return int(held or 0)
