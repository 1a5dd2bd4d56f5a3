"""Midjourney calls that answer at once (a picture's seed, an upload to Discord) and the
upstream cancel of a job the user cancelled: the real poller against the demo gateway."""

from __future__ import annotations

import asyncio
import logging

import pytest
from django.urls import reverse
from django.utils import timezone

from gateway.errors import GatewayError
from media_jobs import poller, providers, services
from media_jobs.models import MediaJob
from tests.media_jobs.conftest import new_job, run_pass
from usage.models import UsageRecord

Status = MediaJob.Status
# The poller runs through database_sync_to_async (see tests/media_jobs/test_poller.py).
pytestmark = pytest.mark.django_db(transaction=True)

PNG_URL = "data:image/png;base64,iVBORw0KGgo="


def _finished_imagine(media, team, alice) -> MediaJob:
    job = new_job(alice, team)
    run_pass()
    media.clock.advance(20)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    return job


def _record(job) -> UsageRecord:
    return UsageRecord.objects.get(job=job)


def test_a_seed_job_succeeds_with_the_seed_on_its_card(media, team, alice, alice_client):
    parent = _finished_imagine(media, team, alice)
    seed = new_job(alice, team, action="IMAGE_SEED", parent=parent)

    run_pass()

    seed.refresh_from_db()
    expected = str(int(media.media.tasks[parent.upstream_id].hash[:8], 16))
    assert seed.status == Status.SUCCEEDED and seed.result == {"seed": expected}
    assert media.last_request.path == f"/mj/task/{parent.upstream_id}/image-seed"
    assert seed.next_poll_at is None and seed.upstream_id == ""
    assert not UsageRecord.objects.filter(job=seed).exists()  # free upstream: not charged
    html = alice_client.get(reverse("media_jobs:card", args=[seed.pk])).content.decode()
    assert f"<code>{expected}</code>" in html
    assert 'value="parlor:seed"' not in html  # no seed of a seed


def test_a_seed_the_gateway_refuses_fails_with_its_reason_and_is_refunded(media, team, alice):
    parent = new_job(alice, team)
    run_pass()  # submitted upstream, not finished: the demo refuses its seed
    seed = new_job(alice, team, action="IMAGE_SEED", parent=parent)

    run_pass()

    seed.refresh_from_db()
    assert seed.status == Status.FAILED and seed.error
    assert seed.error != poller.UNKNOWN_ACTION
    assert not UsageRecord.objects.filter(job=seed).exists()


def test_an_upload_succeeds_with_its_discord_links_shown_not_stored(
    media, team, alice, alice_client
):
    job = new_job(alice, team, action="UPLOAD", prompt="", params={"images": [PNG_URL] * 2})

    run_pass()

    job.refresh_from_db()
    urls = job.result["urls"]
    assert job.status == Status.SUCCEEDED and len(urls) == 2
    assert all(url.startswith(media.base_url) for url in urls)
    assert media.last_request.json == {"base64Array": [PNG_URL] * 2}
    assert job.result_urls == [] and not job.files.exists()  # links only, nothing downloaded
    assert _record(job).status == UsageRecord.Status.SETTLED
    html = alice_client.get(reverse("media_jobs:card", args=[job.pk])).content.decode()
    assert all(f'href="{url}"' in html for url in urls)
    assert 'value="parlor:seed"' not in html


def test_an_upload_the_gateway_refuses_fails_and_is_refunded(media, team, alice):
    job = new_job(alice, team, action="UPLOAD", params={"images": []})  # the demo wants some

    run_pass()

    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error and job.error != poller.UNKNOWN_ACTION
    assert _record(job).status == UsageRecord.Status.REFUNDED


def test_upload_links_that_are_not_web_links_are_dropped(media, team, alice, monkeypatch):
    async def hostile(images):
        return ["javascript:alert(1)"]

    monkeypatch.setattr(providers.midjourney, "upload", hostile)
    job = new_job(alice, team, action="UPLOAD", params={"images": [PNG_URL]})

    run_pass()

    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error == poller.NO_LINKS
    assert _record(job).status == UsageRecord.Status.REFUNDED


# Cancelling upstream


def _submitted(media, team, alice) -> MediaJob:
    job = new_job(alice, team)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUBMITTED and job.upstream_id
    return job


def _cancel_calls(media) -> list[str]:
    return [r.path for r in media.requests if r.path.endswith("/cancel") and "/0/" not in r.path]


def test_a_cancelled_job_is_cancelled_upstream_once_when_the_gateway_can(media, team, alice):
    media.media.mj_plus = True
    job = _submitted(media, team, alice)

    assert services.cancel_job(job) is True
    assert _cancel_calls(media) == []  # the view does not wait on the gateway
    run_pass()
    run_pass()

    assert _cancel_calls(media) == [f"/mj/task/{job.upstream_id}/cancel"]
    assert media.media.tasks[job.upstream_id].cancelled
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.next_poll_at is None and job.lease_owner == ""
    assert _record(job).status == UsageRecord.Status.REFUNDED


def test_no_upstream_cancel_without_the_route_or_a_task(media, team, alice):
    job = _submitted(media, team, alice)  # mj_plus off: the gateway has no cancel route
    queued = new_job(alice, team)  # never submitted: nothing to cancel upstream

    services.cancel_job(job)
    services.cancel_job(queued)
    run_pass()

    assert _cancel_calls(media) == []
    assert not media.media.tasks[job.upstream_id].cancelled
    job.refresh_from_db()
    queued.refresh_from_db()
    assert job.status == queued.status == Status.CANCELLED
    assert job.next_poll_at is None and queued.next_poll_at is None


def test_a_failed_upstream_cancel_is_retried_with_a_back_off_then_given_up(
    media, team, alice, monkeypatch, caplog
):
    media.media.mj_plus = True
    job = _submitted(media, team, alice)
    tries = []

    async def broken(task_id):
        tries.append(task_id)
        raise GatewayError("the gateway is down")

    monkeypatch.setattr(providers.midjourney, "cancel", broken)
    services.cancel_job(job)
    assert _record(job).status == UsageRecord.Status.REFUNDED  # at once, whatever upstream
    delays = []
    with caplog.at_level(logging.WARNING, logger="media_jobs.poller"):
        for _ in range(len(poller.CANCEL_RETRY_SECONDS) + 3):
            before = timezone.now()
            run_pass()
            run_pass()  # not due yet: no second try within the back-off
            row = MediaJob.objects.get(pk=job.pk)
            if row.cancel_at is not None:
                delays.append(round((row.cancel_at - before).total_seconds()))
            MediaJob.objects.filter(pk=job.pk, cancel_at__isnull=False).update(
                cancel_at=timezone.now()
            )

    assert tries == [job.upstream_id] * (len(poller.CANCEL_RETRY_SECONDS) + 1)
    assert delays == list(poller.CANCEL_RETRY_SECONDS)
    assert "giving up" in caplog.text and job.upstream_id in caplog.text
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.error == "" and job.next_poll_at is None
    assert (job.cancel_task_id, job.cancel_at) == ("", None)


def test_an_upstream_cancel_that_fails_once_is_sent_again_and_then_done(
    media, team, alice, monkeypatch
):
    media.media.mj_plus = True
    job = _submitted(media, team, alice)
    real, calls = providers.midjourney.cancel, []

    async def flaky(task_id):
        calls.append(task_id)
        if len(calls) == 1:
            raise GatewayError("timed out")
        await real(task_id)

    monkeypatch.setattr(providers.midjourney, "cancel", flaky)
    services.cancel_job(job)
    run_pass()
    MediaJob.objects.filter(pk=job.pk).update(cancel_at=timezone.now())
    run_pass()

    assert calls == [job.upstream_id] * 2
    assert media.media.tasks[job.upstream_id].cancelled
    assert MediaJob.objects.get(pk=job.pk).cancel_task_id == ""


@pytest.mark.parametrize("kind", ["suno", "luma"])
def test_suno_and_luma_have_no_cancel_route_so_nothing_is_sent(media, team, alice, kind):
    media.media.mj_plus = True
    fields = {"action": "MUSIC", "params": {"description": "x"}} if kind == "suno" else {}
    job = new_job(alice, team, kind=kind, **({"action": "GENERATE"} | fields))
    run_pass()
    job.refresh_from_db()
    assert job.upstream_id
    media.requests.clear()

    assert services.cancel_job(job)
    run_pass()

    assert [r.path for r in media.requests if "cancel" in r.path] == []
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.cancel_task_id == ""
    assert _record(job).status == UsageRecord.Status.REFUNDED


async def test_the_poller_loop_asks_the_gateway_for_its_routes_once_the_cache_is_empty(media):
    from media_jobs import features

    media.media.mj_plus = True
    probes = []

    def count() -> int:
        return sum(r.path == "/mj/task/0/cancel" for r in media.requests)

    stop = asyncio.Event()
    loop_task = asyncio.create_task(poller.run_poller("loop", stop=stop))
    try:
        for _ in range(100):
            if features.cached():
                break
            await asyncio.sleep(0.02)
        probes.append(count())
        poller.wake()  # a second pass: the cache is warm, no new probe
        await asyncio.sleep(0.2)
        probes.append(count())
    finally:
        stop.set()
        poller.wake()
        await asyncio.wait_for(loop_task, 10)

    assert features.cached()["cancel"] is True  # the Cancel button shows
    assert probes == [1, 1]
