"""Bounds on what a job's results may cost: the copies run beside the polling pass (a slow
result of one job never holds up the polls of others), and a job stores at most
MEDIA_MAX_FILES_PER_JOB files and MEDIA_MAX_BYTES_PER_JOB bytes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from gateway import download as dl
from media_jobs import poller, storage
from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_job
from tests.media_jobs.conftest import make_due, new_job

Status = MediaJob.Status
pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024


async def _pass(owner: str = "poller-a") -> None:
    """One pass as the loop runs it (not waiting for copies), which must end promptly."""
    await db(make_due)()
    await asyncio.wait_for(poller.poll_once(owner, wait=False), timeout=10)


async def _reload(job: MediaJob) -> MediaJob:
    return await MediaJob.objects.aget(pk=job.pk)


async def test_a_slow_result_does_not_hold_up_the_polls_of_other_jobs(
    media, team, alice, monkeypatch
):
    slow = await db(new_job)(alice, team, prompt="a slow one")
    fast = await db(new_job)(alice, team, prompt="a quick one")
    blocker = asyncio.Event()
    real = storage.dl.download

    async def download(url, **kwargs):
        if slow.upstream_id and slow.upstream_id in url:  # drips: never done in this test
            await blocker.wait()
        return await real(url, **kwargs)

    monkeypatch.setattr(storage.dl, "download", download)
    try:
        await _pass()  # both submitted
        slow = await _reload(slow)
        fast = await _reload(fast)
        assert slow.upstream_id and fast.upstream_id
        # The slow job finishes first; its copy hangs.
        media.media.tasks[fast.upstream_id].scenario = "never"
        media.clock.advance(20)
        await _pass()
        assert (await _reload(slow)).status == Status.SUCCEEDED
        # The other job is still polled, and finishes and is stored, meanwhile.
        media.media.tasks[fast.upstream_id].scenario = ""
        media.clock.advance(20)
        await _pass()
        assert (await _reload(fast)).status == Status.SUCCEEDED
        for _ in range(100):
            if await MediaFile.objects.filter(job_id=fast.pk).aexists():
                break
            await asyncio.sleep(0.05)
        assert await MediaFile.objects.filter(job_id=fast.pk).aexists()
        assert not await MediaFile.objects.filter(job_id=slow.pk).aexists()
    finally:
        blocker.set()
        await asyncio.gather(*poller._in_flight, *poller._copies, return_exceptions=True)


def test_a_copy_cut_short_by_a_crash_is_taken_up_again_from_the_database(
    media, team, alice, monkeypatch
):
    """A succeeded job whose copy never ended (its process died): once the lease lapses, a
    pass of any poller stores its files."""
    job = make_job(team, alice, status=Status.SUCCEEDED, progress=100,
                   result_urls=[f"{media.base_url}/demo-media/none.png"])  # fmt: skip
    got = []

    async def download(url, **kwargs):
        got.append(url)
        return dl.Downloaded(url=url, content_type="image/png", data=PNG)

    monkeypatch.setattr(storage.dl, "download", download)
    past = timezone.now() - timedelta(seconds=5)
    MediaJob.objects.filter(pk=job.pk).update(next_poll_at=past, lease_owner="dead:1",
                                              lease_until=past)  # fmt: skip
    from asgiref.sync import async_to_sync

    async_to_sync(poller.poll_once)("poller-b")

    job.refresh_from_db()
    assert got == job.result_urls
    assert job.files.count() == 1 and job.next_poll_at is None and job.lease_owner == ""


async def test_a_job_stores_at_most_its_files_and_bytes(team, alice, settings, monkeypatch):
    settings.MEDIA_MAX_FILES_PER_JOB = 3
    settings.MEDIA_MAX_BYTES_PER_JOB = 10 * 1024
    urls = [f"https://cdn.example/{i}.png" for i in range(60)]
    job = await db(make_job)(team, alice, status=Status.SUCCEEDED, result_urls=urls)
    asked: list[tuple[str, int | None]] = []

    async def download(url, *, expect, limit=None):
        asked.append((url, limit))
        data = PNG + b"\x00" * 3000
        if limit is not None and len(data) > limit:
            raise dl.DownloadRefused("over the cap")
        return dl.Downloaded(url=url, content_type="image/png", data=data)

    monkeypatch.setattr(storage.dl, "download", download)
    missing = await storage.store_results(job)

    assert [url for url, _limit in asked] == urls[:3]
    # Each download may take only what is left of the job's allowance.
    assert all(limit is not None and limit <= 10 * 1024 for _url, limit in asked)
    assert set(missing) <= set(urls[:3])  # files past the count are not retried
    sizes = [
        size async for size in MediaFile.objects.filter(job=job).values_list("size", flat=True)
    ]
    assert len(sizes) <= 3 and sum(sizes) <= 10 * 1024


async def test_a_job_over_its_byte_allowance_stops_storing(team, alice, settings, monkeypatch):
    settings.MEDIA_MAX_BYTES_PER_JOB = 6 * 1024
    urls = [f"https://cdn.example/{i}.png" for i in range(4)]
    job = await db(make_job)(team, alice, status=Status.SUCCEEDED, result_urls=urls)

    async def download(url, *, expect, limit=None):
        data = PNG + b"\x00" * 4000
        if limit is not None and len(data) > limit:
            raise dl.DownloadRefused("over the cap")
        return dl.Downloaded(url=url, content_type="image/png", data=data)

    monkeypatch.setattr(storage.dl, "download", download)
    await storage.store_results(job)

    assert await MediaFile.objects.filter(job=job).acount() == 1


# --- per member ---------------------------------------------------------------------------


def test_a_member_may_have_only_so_many_active_jobs(team, alice, bob, settings):
    from django.core.exceptions import ValidationError

    settings.MEDIA_MAX_ACTIVE_JOBS_PER_MEMBER = 2
    new_job(alice, team)
    new_job(alice, team)

    with pytest.raises(ValidationError, match="at most 2 jobs"):
        new_job(alice, team)
    new_job(bob, team)  # another member's allowance is their own
    MediaJob.objects.filter(created_by=alice).update(status=Status.SUCCEEDED)
    new_job(alice, team)  # finished jobs do not count


def test_the_studio_form_says_why_a_job_over_the_allowance_is_refused(
    team, alice, alice_client, settings
):
    import uuid

    settings.MEDIA_MAX_ACTIVE_JOBS_PER_MEMBER = 1
    new_job(alice, team)

    data = {"idempotency_key": str(uuid.uuid4()), "prompt": "a fox"}
    response = alice_client.post("/studio/new/shorten/", data)

    assert response.status_code == 400
    assert "at most 1 job queued or running" in response.content.decode()
    assert MediaJob.objects.count() == 1


def test_a_retry_counts_against_the_active_allowance_too(team, alice, settings):
    from django.core.exceptions import ValidationError

    from media_jobs import services

    settings.MEDIA_MAX_ACTIVE_JOBS_PER_MEMBER = 1
    failed = make_job(team, alice, status=Status.FAILED)
    new_job(alice, team)

    with pytest.raises(ValidationError, match="at most 1 job"):
        services.retry_job(failed)
    failed.refresh_from_db()
    assert failed.status == Status.FAILED


async def test_a_copy_stretches_its_lease_file_by_file(team, alice, settings, monkeypatch):
    """The lease covers one file at a time: a copy cut short is taken up again within
    minutes, not after the time all its files could have taken."""
    settings.MEDIA_DOWNLOAD_SECONDS = 100
    urls = [f"https://cdn.example/{i}.png" for i in range(3)]
    job = await db(make_job)(team, alice, status=Status.SUCCEEDED, result_urls=urls,
                             next_poll_at=timezone.now())  # fmt: skip
    leases = []

    async def download(url, **kwargs):
        leases.append((await _reload(job)).lease_until)
        return dl.Downloaded(url=url, content_type="image/png", data=PNG)

    monkeypatch.setattr(storage.dl, "download", download)
    started = timezone.now()
    await poller.poll_once("poller-a")

    assert len(leases) == 3
    assert all(lease is not None and lease - started < timedelta(seconds=100 + 70)
               for lease in leases)  # fmt: skip
    assert leases == sorted(leases) and leases[0] < leases[-1]
    assert await MediaFile.objects.filter(job_id=job.pk).acount() == 3
