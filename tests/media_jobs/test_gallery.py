"""The Studio's gallery: tiles, filters, "Load more", the lightbox (the job page's body for an
htmx GET aimed at #lightbox-body) and a song's duration shown before it is played (alice
owner, bob member, charlie of another team)."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from media_jobs.models import MediaFile, MediaJob
from media_jobs.templatetags.media_jobs import duration
from media_jobs.views import PAGE_SIZE
from tests.factories import make_job

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LIGHTBOX = {"HX-Request": "true", "HX-Target": "lightbox-body"}
CLIPS = [
    {"id": "c1", "title": "Sea shanty", "duration": 154.4},
    {"id": "c2", "title": "Sea shanty", "duration": 171},
]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _file(job, kind=MediaFile.Kind.IMAGE, position=0) -> MediaFile:
    media = MediaFile(job=job, kind=kind, position=position, content_type="image/png")
    media.file.save(f"f-{position}.png", ContentFile(PNG), save=False)
    media.size = len(PNG)
    media.save()
    return media


def _done(team, user, **extra) -> MediaJob:
    extra.setdefault("status", MediaJob.Status.SUCCEEDED)
    extra.setdefault("progress", 100)
    return make_job(team, user, **extra)


def _jobs(client, **query) -> list[MediaJob]:
    return list(client.get(reverse("media_jobs:gallery"), query).context["jobs"])


# Tiles


def test_the_gallery_shows_tiles_with_thumbnails_not_cards(team, alice, alice_client):
    job = _done(team, alice)
    media = _file(job)

    html = alice_client.get(reverse("media_jobs:gallery")).content.decode()

    assert f'id="tile-{job.pk.hex}"' in html
    assert reverse("media_jobs:file_variant", args=[job.pk, media.pk, "thumb"]) in html
    assert 'class="job-card"' not in html
    assert f'data-tile-url="{reverse("media_jobs:tile", args=[job.pk])}"' in html
    assert '<dialog id="lightbox"' in html


def test_a_song_tile_shows_its_durations_and_a_running_tile_its_progress(team, alice, alice_client):
    song = _done(team, alice, kind=MediaJob.Kind.SUNO, action="MUSIC", result={"clips": CLIPS})
    _file(song, kind=MediaFile.Kind.COVER)
    running = make_job(team, alice, status=MediaJob.Status.RUNNING, progress=42)

    html = alice_client.get(reverse("media_jobs:gallery")).content.decode()

    assert "2:34 · 2:51" in html and "Sea shanty" in html
    tile = alice_client.get(reverse("media_jobs:tile", args=[running.pk])).content.decode()
    assert f'id="tile-{running.pk.hex}"' in tile
    assert 'value="42"' in tile and "42%" in tile


def test_a_tile_keeps_its_preview_from_success_until_the_results_are_copied(
    team, alice, alice_client
):
    job = _done(team, alice)
    preview = _file(job, kind=MediaFile.Kind.PREVIEW)
    url = reverse("media_jobs:tile", args=[job.pk])

    tile = alice_client.get(url).content.decode()
    assert reverse("media_jobs:file_variant", args=[job.pk, preview.pk, "thumb"]) in tile
    assert "tile-placeholder" not in tile

    image = _file(job, position=1)
    tile = alice_client.get(url).content.decode()
    assert reverse("media_jobs:file_variant", args=[job.pk, image.pk, "thumb"]) in tile
    assert reverse("media_jobs:file_variant", args=[job.pk, preview.pk, "thumb"]) not in tile


def test_tiles_and_the_lightbox_of_jobs_one_may_not_see_are_404(
    team, alice, bob_client, charlie_client
):
    private = _done(team, alice)
    for client in (bob_client, charlie_client):
        for name in ("tile", "detail"):
            url = reverse(f"media_jobs:{name}", args=[private.pk])
            assert client.get(url, headers=LIGHTBOX).status_code == 404


# The lightbox


def test_the_lightbox_is_the_card_with_the_full_picture_parameters_and_lineage(
    team, alice, alice_client
):
    parent = _done(team, alice, is_shared=True)
    job = _done(
        team,
        alice,
        kind=MediaJob.Kind.IMAGE,
        action="GENERATE",
        parent=parent,
        params={"model": "gpt-image-1", "size": "1024x1024"},
        result={"seed": 1234},
    )
    media = _file(job)
    child = _done(team, alice, parent=job, button="U1")

    response = alice_client.get(reverse("media_jobs:detail", args=[job.pk]), headers=LIGHTBOX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'class="lightbox-layout"' in html
    assert f'id="job-{job.pk.hex}"' in html  # the card: live pushes refresh it in the dialog
    assert reverse("media_jobs:file", args=[job.pk, media.pk]) + '"' in html  # full size
    for text in ("gpt-image-1", "1024x1024", "1234"):
        assert text in html
    assert reverse("media_jobs:detail", args=[parent.pk]) in html
    assert reverse("media_jobs:detail", args=[child.pk]) in html


def test_the_job_page_is_still_a_page(team, alice, alice_client):
    job = _done(team, alice)
    html = alice_client.get(reverse("media_jobs:detail", args=[job.pk])).content.decode()
    assert "<html" in html and "lightbox-layout" not in html


# Filters and pages


def test_the_filters_keep_kinds_statuses_and_whose(team, alice, bob, alice_client):
    image = _done(team, alice, kind=MediaJob.Kind.IMAGE, action="GENERATE")
    grid = make_job(team, alice, status=MediaJob.Status.RUNNING)
    song = _done(team, bob, kind=MediaJob.Kind.SUNO, is_shared=True)
    video = make_job(team, alice, kind=MediaJob.Kind.LUMA, status=MediaJob.Status.CANCELLED)
    failed = make_job(team, alice, kind=MediaJob.Kind.SUNO, status=MediaJob.Status.FAILED)

    assert _jobs(alice_client, kind="images") == [grid, image]
    assert _jobs(alice_client, kind="music") == [failed, song]
    assert _jobs(alice_client, kind="video") == [video]
    assert _jobs(alice_client, status="running") == [grid]
    assert _jobs(alice_client, status="done") == [song, image]
    assert _jobs(alice_client, status="failed") == [failed, video]
    assert song not in _jobs(alice_client, who="mine")
    assert len(_jobs(alice_client, who="mine")) == 4
    assert len(_jobs(alice_client, kind="junk", status="junk", who="junk")) == 5


def test_a_filter_answers_the_list_for_htmx_and_the_chip_stays_checked(team, alice, alice_client):
    _done(team, alice, kind=MediaJob.Kind.SUNO)
    headers = {"HX-Request": "true", "HX-Target": "job-list"}

    html = alice_client.get(reverse("media_jobs:gallery"), {"kind": "music"}, headers=headers)
    assert html.content.decode().lstrip().startswith('<section id="job-list"')

    page = alice_client.get(reverse("media_jobs:gallery"), {"kind": "music"}).content.decode()
    assert 'value="music" checked' in page


def test_the_gallery_pages_by_thirty_and_load_more_appends_the_next(team, alice, alice_client):
    jobs = [make_job(team, alice, prompt=f"job {i}") for i in range(PAGE_SIZE + 5)]
    newest_first = jobs[::-1]

    first = alice_client.get(reverse("media_jobs:gallery"), {"kind": "images"})
    assert list(first.context["jobs"]) == newest_first[:PAGE_SIZE]
    html = first.content.decode()
    assert html.count('class="tile"') == PAGE_SIZE
    assert 'id="job-more-2"' in html and "kind=images&amp;page=2" in html

    headers = {"HX-Request": "true", "HX-Target": "job-more-2"}
    query = {"kind": "images", "page": 2}
    more = alice_client.get(reverse("media_jobs:gallery"), query, headers=headers)
    rest = more.content.decode()
    assert all(f'id="tile-{job.pk.hex}"' in rest for job in newest_first[PAGE_SIZE:])
    assert rest.count('class="tile"') == 5
    assert "job-more-3" not in rest and "<section" not in rest and "<html" not in rest


def _queries(client, **query) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("media_jobs:gallery"), query).status_code == 200
    return len(queries)


def test_the_gallery_query_count_does_not_depend_on_the_number_of_jobs(
    team, alice, bob, alice_client
):
    parent = _done(team, alice)
    _file(parent)
    _queries(alice_client)
    few = _queries(alice_client)
    for i in range(PAGE_SIZE + 10):
        child = _done(team, alice, parent=parent, button=f"U{i}")
        _file(child)
        song = _done(team, bob, is_shared=True, kind=MediaJob.Kind.SUNO, result={"clips": CLIPS})
        _file(song, kind=MediaFile.Kind.COVER)

    assert _queries(alice_client) == few
    assert _queries(alice_client, page=2) == few


# Songs


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0:00"), (3.0, "0:03"), (154.4, "2:34"), (59.6, "1:00"), (3725, "1:02:05"),
     (None, ""), ("12", ""), (True, ""), (-1, "")],
)  # fmt: skip
def test_durations_read_as_minutes_and_seconds(seconds, shown):
    assert duration(seconds) == shown


def test_a_song_card_shows_each_clips_duration_beside_its_player(team, alice, alice_client):
    song = _done(team, alice, kind=MediaJob.Kind.SUNO, action="MUSIC", result={"clips": CLIPS})
    for position in (0, 1):
        media = MediaFile(job=song, kind=MediaFile.Kind.AUDIO, position=position)
        media.content_type = "audio/mpeg"
        media.file.save(f"clip-{position}.mp3", ContentFile(b"ID3"), save=False)
        media.save()

    html = alice_client.get(reverse("media_jobs:card", args=[song.pk])).content.decode()

    assert html.count('class="job-player"') == 2
    # The file view answers byte ranges (test_file_ranges): the player reads the length too.
    assert html.count('<audio controls preload="metadata"') == 2
    assert '<span class="job-clip-duration">2:34</span>' in html
    assert '<span class="job-clip-duration">2:51</span>' in html
