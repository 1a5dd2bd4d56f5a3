"""Job files answer single byte ranges (what <audio preload="metadata"> and seeking ask for):
206 with Content-Range, 416 for a range past the end, the whole file otherwise; access first."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_job

DATA = bytes(range(256)) * 4  # 1024 bytes


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def url(team, alice) -> str:
    job = make_job(team, alice, kind=MediaJob.Kind.SUNO, status=MediaJob.Status.SUCCEEDED)
    media = MediaFile(job=job, kind=MediaFile.Kind.AUDIO, content_type="audio/mpeg")
    media.file.save("clip.mp3", ContentFile(DATA), save=False)
    media.size = len(DATA)
    media.save()
    return reverse("media_jobs:file", args=[job.pk, media.pk])


def _get(client, url, value=None, headers=None):
    headers = dict(headers or {})
    if value is not None:
        headers["Range"] = value
    response = client.get(url, headers=headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_a_whole_file_says_it_takes_ranges(alice_client, url):
    response, body = _get(alice_client, url)
    assert response.status_code == 200 and body == DATA
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == "1024"


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [("bytes=0-", 0, 1023), ("bytes=0-99", 0, 99), ("bytes=1000-5000", 1000, 1023),
     ("bytes=-24", 1000, 1023), ("bytes=1023-1023", 1023, 1023)],
)  # fmt: skip
def test_a_single_range_is_a_206_with_its_bytes(alice_client, url, value, start, end):
    response, body = _get(alice_client, url, value)
    assert response.status_code == 206
    assert body == DATA[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/1024"
    assert response["Content-Length"] == str(end - start + 1)
    assert response["Content-Type"] == "audio/mpeg"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("value", ["bytes=1024-", "bytes=2000-3000", "bytes=-0"])
def test_a_range_past_the_end_is_a_416(alice_client, url, value):
    response, _body = _get(alice_client, url, value)
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */1024"


@pytest.mark.parametrize(
    "value", ["bytes=0-1,5-9", "bytes=9-1", "items=0-1", "bytes=x-", "bytes=-", "junk"]
)
def test_other_ranges_get_the_whole_file(alice_client, url, value):
    response, body = _get(alice_client, url, value)
    assert response.status_code == 200 and body == DATA


def test_an_if_range_gets_the_whole_file(alice_client, url):
    response, body = _get(alice_client, url, "bytes=0-9", {"If-Range": '"old"'})
    assert response.status_code == 200 and body == DATA


def test_a_range_of_a_file_one_may_not_see_is_404(bob_client, charlie_client, url):
    for client in (bob_client, charlie_client):
        assert client.get(url, headers={"Range": "bytes=0-9"}).status_code == 404
