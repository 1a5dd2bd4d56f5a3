"""A Midjourney picture being drawn keeps one stored preview (replaced as it moves, at most
every few seconds, gone once the job succeeds); stored files get names people recognise."""

from __future__ import annotations

import pytest

from gateway.errors import GatewayError
from media_jobs import storage
from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_job
from tests.media_jobs.conftest import new_job, run_pass

Status = MediaJob.Status
PREVIEW = MediaFile.Kind.PREVIEW


def _previews(job) -> list[MediaFile]:
    return list(MediaFile.objects.filter(job=job, kind=PREVIEW))


@pytest.mark.django_db(transaction=True)
def test_a_running_picture_keeps_one_preview_replaced_as_it_moves(media, team, alice, monkeypatch):
    job = new_job(alice, team)
    run_pass()
    media.clock.advance(5)  # half way: IN_PROGRESS with a preview image
    run_pass()

    [first] = _previews(job)
    assert first.content_type == "image/png" and first.size > 0 and not first.thumbnail
    assert first.file.read(8) == b"\x89PNG\r\n\x1a\n"
    assert first.source_url.endswith("-preview.png")  # our copy, not a link

    media.clock.advance(1)  # moved, but the stored preview is younger than PREVIEW_SECONDS
    run_pass()
    assert [p.pk for p in _previews(job)] == [first.pk]

    monkeypatch.setattr(storage, "PREVIEW_SECONDS", 0)
    media.clock.advance(1)
    run_pass()
    [second] = _previews(job)
    assert second.pk != first.pk
    assert not first.file.storage.exists(first.file.name)  # the old file went with its row

    media.clock.advance(20)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert _previews(job) == [] and job.files.filter(kind="image").exists()


@pytest.mark.django_db(transaction=True)
def test_a_preview_that_cannot_be_downloaded_is_skipped(media, team, alice, monkeypatch):
    real = storage.dl.download

    async def refuse_previews(url, **kwargs):
        if "-preview" in url:
            raise GatewayError("refused")
        return await real(url, **kwargs)

    monkeypatch.setattr(storage.dl, "download", refuse_previews)
    job = new_job(alice, team)
    run_pass()
    media.clock.advance(5)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.RUNNING and _previews(job) == []
    media.clock.advance(20)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.files.filter(kind="image").exists()


@pytest.mark.django_db(transaction=True)
def test_suno_and_luma_keep_no_preview(media, team, alice):
    song = new_job(alice, team, kind="suno", action="MUSIC", params={"description": "x"})
    video = new_job(alice, team, kind="luma", action="GENERATE", prompt="waves")
    run_pass()
    media.clock.advance(8)
    run_pass()
    assert _previews(song) == _previews(video) == []


# Download names


def _file(job, kind="image", position=0, content_type="image/png") -> MediaFile:
    return MediaFile.objects.create(
        job=job, kind=kind, position=position, file=f"x{position}.bin", content_type=content_type
    )


@pytest.mark.django_db
def test_a_download_is_named_after_the_prompt_the_title_and_the_type(team, alice):
    job = make_job(team, alice, prompt="Red fox at dawn", button="MJ::JOB::upsample::2::a")
    assert _file(job).download_name == "red-fox-at-dawn-upscale-2.png"


@pytest.mark.django_db
def test_several_files_of_a_kind_are_numbered_and_covers_say_so(team, alice):
    words = "A sea shanty for the night watch crew tonight"
    song = make_job(
        team, alice, kind="suno", action="MUSIC", prompt="", params={"description": words}
    )
    one = _file(song, "audio", 0, "audio/mpeg")
    two = _file(song, "audio", 1, "audio/wav")
    cover = _file(song, "cover", 0, "image/jpeg")

    assert one.download_name == "a-sea-shanty-for-the-night-song-1.mp3"
    assert two.download_name == "a-sea-shanty-for-the-night-song-2.wav"
    assert cover.download_name == "a-sea-shanty-for-the-night-song-cover.jpg"


@pytest.mark.django_db
def test_a_download_name_is_ascii_and_falls_back_to_the_kind(team, alice):
    cafe = make_job(team, alice, kind="luma", action="GENERATE", prompt="Café à Paris — 夜")
    blank = make_job(team, alice, kind="luma", action="EXTEND", prompt="夜")
    assert _file(cafe, "video", 0, "video/mp4").download_name == "cafe-a-paris-video.mp4"
    assert _file(blank, "video", 0, "image/gif").download_name == "luma-extend-video.gif"
