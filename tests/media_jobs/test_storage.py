"""Stored files go with their MediaFile rows: a deleted conversation, job or queryset of
files removes the files and thumbnails from storage once the deletion commits, never before."""

from __future__ import annotations

import io
import os

import pytest
from django.db import transaction
from PIL import Image

from gateway import download as dl
from media_jobs import storage
from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_conversation, make_job

pytestmark = pytest.mark.django_db(transaction=True)


class Rollback(Exception):
    pass


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, "PNG")
    return out.getvalue()


def _stored(job: MediaJob, position: int = 0) -> MediaFile:
    """A saved MediaFile with a file and a thumbnail on disk."""
    data = _png()
    got = dl.Downloaded(url="https://example.com/x.png", content_type="image/png", data=data)
    want = storage.Wanted(MediaFile.Kind.IMAGE, position, got.url)
    media = storage.save_file(job, want, got)
    assert media is not None and media.thumbnail
    assert _on_disk(media) == [True, True]
    return media


def _on_disk(media: MediaFile) -> list[bool]:
    return [media.file.storage.exists(media.file.name),
            media.thumbnail.storage.exists(media.thumbnail.name)]  # fmt: skip


def test_deleting_a_conversation_removes_its_jobs_files_and_thumbnails(team, alice):
    conversation = make_conversation(team, alice)
    first = make_job(team, alice, conversation=conversation)
    second = make_job(team, alice, conversation=conversation)
    elsewhere = make_job(team, alice)
    gone = [_stored(first, 0), _stored(first, 1), _stored(second)]
    kept = _stored(elsewhere)

    conversation.delete()

    assert not MediaJob.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert [_on_disk(media) for media in gone] == [[False, False]] * 3
    assert _on_disk(kept) == [True, True]


def test_a_rolled_back_deletion_keeps_the_files(team, alice):
    conversation = make_conversation(team, alice)
    media = _stored(make_job(team, alice, conversation=conversation))

    with pytest.raises(Rollback), transaction.atomic():
        conversation.delete()
        assert _on_disk(media) == [True, True]  # not before the commit either
        raise Rollback

    assert MediaFile.objects.filter(pk=media.pk).exists()
    assert _on_disk(media) == [True, True]


def test_deleting_a_job_or_a_queryset_of_files_removes_them(team, alice):
    job = make_job(team, alice)
    by_job = _stored(job)
    other = make_job(team, alice)
    by_queryset = _stored(other)

    job.delete()
    MediaFile.objects.filter(job=other).delete()

    assert _on_disk(by_job) == [False, False]
    assert _on_disk(by_queryset) == [False, False]


def test_a_file_already_gone_from_storage_is_no_error(team, alice):
    job = make_job(team, alice)
    media = _stored(job)
    media.file.storage.delete(media.file.name)

    job.delete()

    assert _on_disk(media) == [False, False]


def test_the_loser_of_a_store_race_drops_its_copy_and_keeps_the_winners(team, alice):
    job = make_job(team, alice)
    winner = _stored(job)
    data = _png()
    got = dl.Downloaded(url="https://example.com/x.png", content_type="image/png", data=data)
    want = storage.Wanted(MediaFile.Kind.IMAGE, 0, got.url)

    assert storage.save_file(job, want, got) is None

    root = winner.file.storage.location
    on_disk = {os.path.join(d, name) for d, _dirs, names in os.walk(root) for name in names}
    assert on_disk == {winner.file.path, winner.thumbnail.path}
