"""Midjourney calls that answer at once (a picture's seed, an upload to Discord): the real
poller against the demo gateway."""

from __future__ import annotations

import pytest
from django.urls import reverse

from media_jobs import poller
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
    assert _record(seed).status == UsageRecord.Status.SETTLED
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
    assert _record(seed).status == UsageRecord.Status.REFUNDED


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

    monkeypatch.setattr(poller.midjourney, "upload", hostile)
    job = new_job(alice, team, action="UPLOAD", params={"images": [PNG_URL]})

    run_pass()

    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error == poller.NO_LINKS
    assert _record(job).status == UsageRecord.Status.REFUNDED
