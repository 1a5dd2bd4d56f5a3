"""Reference images (Midjourney imagine/blend/describe/swap face, Luma frames, image edits,
masks) are stored as files (JobUpload), never inside the job's JSON: the params keep a
reference, the data URL is built only for the gateway call, lists and the poller never load
the bytes. Metadata (EXIF: GPS, camera) is stripped on the way in, orientation applied."""

from __future__ import annotations

import base64
import io
import uuid

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from media_jobs import uploads
from media_jobs.models import JobUpload, MediaJob
from tests.factories import make_job
from tests.media_jobs.conftest import new_job, run_pass

pytestmark = pytest.mark.django_db(transaction=True)


def png(width: int = 8, height: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def data_url(data: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def jpeg_with_gps(width: int = 20, height: int = 10, orientation: int = 6) -> bytes:
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation: rotate 90 degrees to show
    exif[0x010F] = "SpyCam"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 24.0)  # GPSLatitudeRef, GPSLatitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_a_blend_keeps_its_images_as_files_and_only_references_in_its_params(alice_client):
    pictures = [png(8, 8), png(9, 9)]
    files = [ContentFile(data, name=f"{i}.png") for i, data in enumerate(pictures)]
    data = {"images": files, "dimensions": "SQUARE", "idempotency_key": str(uuid.uuid4())}

    response = alice_client.post(reverse("media_jobs:new", args=["blend"]), data)

    assert response.status_code == 302
    job = MediaJob.objects.get()
    assert len(job.params["images"]) == 2
    assert all(uploads.is_reference(value) for value in job.params["images"])
    assert "base64" not in str(job.params)
    stored = [upload.file.read() for upload in job.uploads.order_by("position")]
    assert stored == pictures


def test_the_gateway_gets_the_pictures_as_data_urls_at_submit(media, team, alice):
    pictures = [data_url(png(8, 8)), data_url(png(9, 9))]
    job = new_job(alice, team, action="BLEND", prompt="",
                  params={"images": pictures, "dimensions": "SQUARE"})  # fmt: skip
    assert "base64" not in str(MediaJob.objects.get(pk=job.pk).params)

    run_pass()

    (sent,) = [r.json for r in media.requests if r.path.endswith("/submit/blend")]
    assert sent["base64Array"] == pictures


def test_an_old_job_with_data_urls_in_its_params_still_submits(media, team, alice):
    picture = data_url(png())
    job = make_job(team, alice, action="DESCRIBE", prompt="", params={"image": picture},
                   next_poll_at=None)  # fmt: skip
    MediaJob.objects.filter(pk=job.pk).update(next_poll_at=job.created_at)

    run_pass()

    (sent,) = [r.json for r in media.requests if r.path.endswith("/submit/describe")]
    assert sent["base64"] == picture


def test_moving_old_data_urls_into_files(team, alice):
    picture = data_url(png())
    job = make_job(team, alice, action="BLEND", params={"images": [picture, picture], "x": 1})

    assert uploads.move_inline_images(MediaJob, JobUpload) == 1

    job.refresh_from_db()
    assert all(uploads.is_reference(value) for value in job.params["images"])
    assert job.params["x"] == 1 and job.uploads.count() == 2
    assert uploads.inline_params(job)["images"] == [picture, picture]


def test_the_gallery_and_the_poller_never_load_the_pictures(team, alice, alice_client):
    big = data_url(png(600, 600))
    for _ in range(3):
        new_job(alice, team, action="BLEND", prompt="", params={"images": [big, big]})

    with CaptureQueriesContext(connection) as queries:
        response = alice_client.get(reverse("media_jobs:gallery"))

    assert response.status_code == 200
    assert not [q for q in queries if "jobupload" in q["sql"].lower()]
    rows = MediaJob.objects.values_list("params", flat=True)
    assert all(len(str(params)) < 1000 for params in rows)


def test_exif_is_stripped_and_the_orientation_applied(alice_client):
    upload = ContentFile(jpeg_with_gps(20, 10), name="holiday.jpg")

    data = {"image": upload, "idempotency_key": str(uuid.uuid4())}
    response = alice_client.post(reverse("media_jobs:new", args=["describe"]), data)

    assert response.status_code == 302
    stored = MediaJob.objects.get().uploads.get().file.read()
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG"
        assert image.size == (10, 20)  # turned as the camera said, then forgotten
        exif = image.getexif()
        assert not exif.get_ifd(0x8825) and 0x010F not in exif and 0x0112 not in exif


def test_a_member_may_hold_only_so_many_upload_bytes_in_active_jobs(team, alice, settings):
    from django.core.exceptions import ValidationError

    picture = data_url(png(300, 300))
    size = len(base64.b64decode(picture.partition(",")[2]))
    settings.MEDIA_MAX_UPLOAD_BYTES_PER_MEMBER = size * 3
    new_job(alice, team, action="BLEND", prompt="", params={"images": [picture, picture]})

    with pytest.raises(ValidationError, match="MB of pictures"):
        new_job(alice, team, action="BLEND", prompt="", params={"images": [picture, picture]})
    MediaJob.objects.update(status=MediaJob.Status.SUCCEEDED)
    new_job(alice, team, action="BLEND", prompt="", params={"images": [picture, picture]})
