"""The poller against the demo gateway on loopback: every transition, batches, writes and
pushes only on change, failures in plain words, stored results."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.live import team_group, user_group
from media_jobs import poller
from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_conversation
from tests.media_jobs.conftest import make_due, new_job, run_pass

Status = MediaJob.Status
# The poller reaches the database through database_sync_to_async, which closes a connection
# found inside a transaction: on PostgreSQL each test must run outside one.
pytestmark = pytest.mark.django_db(transaction=True)


def submits(gateway) -> list[str]:
    return [
        r.path
        for r in gateway.requests
        if "/submit/" in r.path or r.path.endswith(("/music", "/generations"))
    ]


def test_an_imagine_goes_through_every_state_and_its_pictures_are_stored(media, team, alice):
    job = new_job(alice, team)
    assert job.status == Status.QUEUED

    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUBMITTED and job.upstream_id
    assert job.lease_owner == "" and job.submit_started_at is not None

    media.clock.advance(5)  # half way: IN_PROGRESS with a percentage
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.RUNNING and 0 < job.progress < 100

    media.clock.advance(10)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.progress == 100
    assert job.finished_at is not None and job.next_poll_at is None
    assert {b["label"] for b in job.buttons} >= {"U1", "V1"}
    files = list(job.files.all())
    assert files and all(f.kind == MediaFile.Kind.IMAGE for f in files)
    assert all(f.content_type == "image/png" and f.size > 0 and f.thumbnail for f in files)
    assert files[0].file.read(8) == b"\x89PNG\r\n\x1a\n"
    assert job.missing_files == []
    assert len(submits(media)) == 1


def test_a_button_press_is_submitted_against_its_parent(media, team, alice):
    parent = new_job(alice, team)
    run_pass()
    media.clock.advance(20)
    run_pass()
    parent.refresh_from_db()
    u1 = next(b for b in parent.buttons if b["label"] == "U1")
    child = new_job(alice, team, action="UPSCALE", button=u1["customId"], parent=parent)
    run_pass()
    child.refresh_from_db()
    assert child.status == Status.SUBMITTED
    assert media.last_request.json["taskId"] == parent.upstream_id
    media.clock.advance(20)
    run_pass()
    child.refresh_from_db()
    assert child.status == Status.SUCCEEDED and child.files.exists()


def test_suno_stores_audio_and_covers_and_luma_a_video_and_its_cover(media, team, alice):
    song = new_job(
        alice, team, kind="suno", action="MUSIC", prompt="", params={"description": "sea shanty"}
    )
    video = new_job(
        alice, team, kind="luma", action="GENERATE", prompt="waves", params={"aspect_ratio": "1:1"}
    )
    run_pass()
    media.clock.advance(60)
    run_pass()
    song.refresh_from_db()
    video.refresh_from_db()
    assert song.status == Status.SUCCEEDED and video.status == Status.SUCCEEDED
    song_kinds = sorted(song.files.values_list("kind", flat=True))
    assert "audio" in song_kinds and "cover" in song_kinds
    assert song.files.filter(kind="audio").first().content_type == "audio/wav"
    assert song.result["clips"] and song.result["clips"][0]["title"]
    assert sorted(video.files.values_list("kind", flat=True)) == ["cover", "video"]


def test_polling_makes_one_batch_call_per_kind_not_one_per_job(media, team, alice, settings):
    settings.MEDIA_MAX_ACTIVE_JOBS_PER_MEMBER = 0  # seven at once, one member
    for _ in range(3):
        new_job(alice, team)
    for _ in range(2):
        new_job(alice, team, kind="suno", action="MUSIC", params={"description": "x"})
        new_job(alice, team, kind="luma", action="GENERATE", prompt="x")
    run_pass()  # seven submits
    media.requests.clear()
    media.clock.advance(3)
    assert run_pass() == 7
    # (the running Midjourney tasks' previews are files, not API calls)
    paths = sorted(r.path for r in media.requests if not r.path.startswith("/demo-media/"))
    assert paths == ["/luma/tasks", "/mj/task/list-by-condition", "/suno/fetch"]


def _sets_status(sql: str) -> bool:
    return '"status" =' in sql.partition(" WHERE ")[0]


def test_a_pass_with_no_change_writes_only_the_lease_and_the_schedule(media, team, alice):
    jobs = [new_job(alice, team) for _ in range(3)]
    run_pass()
    make_due()
    with CaptureQueriesContext(connection) as queries:
        async_to_sync(poller.poll_once)("poller-a")  # phase 0: nothing moved upstream
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    # one claiming UPDATE for the batch, one scheduling the next poll of all three (same
    # interval) and releasing their lease; no transition write
    assert len(updates) == 2
    assert all(not _sets_status(sql) for sql in updates)
    for job in jobs:
        job.refresh_from_db()
        assert job.status == Status.SUBMITTED and job.poll_interval > 2


def test_a_pass_with_a_change_writes_it_once(media, team, alice):
    job = new_job(alice, team)
    run_pass()
    media.clock.advance(5)
    make_due()
    with CaptureQueriesContext(connection) as queries:
        async_to_sync(poller.poll_once)("poller-a")
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 3  # claim, the transition, the schedule
    assert sum(_sets_status(sql) for sql in updates) == 1
    job.refresh_from_db()
    assert job.status == Status.RUNNING


async def _drain(layer, channel: str) -> list[dict]:
    """Every message waiting on `channel`; the pushes were sent before poll_once returned, so a
    short wait only covers the layer's own round trip (Redis in the scale-mode suite)."""
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), 0.3))
        except TimeoutError:
            return messages


def test_pushes_go_out_only_on_change_and_carry_only_a_refresh_stub(media, team, alice, bob):
    conversation = make_conversation(team, alice)
    job = new_job(alice, team, conversation=conversation)
    pushes: dict[str, list[int]] = {}

    async def scenario() -> None:
        layer = get_channel_layer()
        channels = {
            "conversation": await layer.new_channel(),
            "alice": await layer.new_channel(),
            "team": await layer.new_channel(),
        }
        await layer.group_add(conversation.group_name, channels["conversation"])
        await layer.group_add(user_group(alice.pk), channels["alice"])
        await layer.group_add(team_group(team.pk), channels["team"])

        async def one_pass() -> dict[str, list[dict]]:
            await database_sync_to_async(make_due)()
            await poller.poll_once("poller-a")
            return {name: await _drain(layer, ch) for name, ch in channels.items()}

        for step, advance in enumerate((0, 0, 5, 0, 20)):
            media.clock.advance(advance)
            got = await one_pass()
            pushes[str(step)] = [len(got[name]) for name in ("conversation", "alice", "team")]
            for message in got["conversation"] + got["alice"]:
                assert message["type"] == "fragment.push"
                html = message["html"]
                assert html.startswith('<div hx-swap-oob="beforeend:#live-updates">')
                assert f'data-job-changed="{job.pk.hex}"' in html and html.endswith("></div>")
                assert job.prompt not in html

    async_to_sync(scenario)()
    # submitted, no change, running, no change, succeeded and then its files stored (the
    # copy runs beside the pass); never the team (not shared)
    assert pushes == {
        "0": [1, 1, 0],
        "1": [0, 0, 0],
        "2": [1, 1, 0],
        "3": [0, 0, 0],
        "4": [2, 2, 0],
    }


def test_a_shared_job_is_pushed_to_the_team_too(media, team, alice):
    conversation = make_conversation(team, alice, is_shared=True)
    job = new_job(alice, team, conversation=conversation)
    assert job.is_shared

    async def scenario() -> int:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(team_group(team.pk), channel)
        await poller.poll_once("poller-a")
        return len(await _drain(layer, channel))

    assert async_to_sync(scenario)() == 1


def test_a_task_failing_upstream_ends_failed_with_the_reason(media, team, alice):
    job = new_job(alice, team, prompt="a storm [demo:fail]")
    song = new_job(
        alice, team, kind="suno", action="MUSIC", prompt="", params={"description": "x [demo:fail]"}
    )
    video = new_job(alice, team, kind="luma", action="GENERATE", prompt="x [demo:fail]")
    run_pass()
    media.clock.advance(60)
    run_pass()
    for item in (job, song, video):
        item.refresh_from_db()
        assert item.status == Status.FAILED
        assert item.error.startswith("The task failed at the gateway")
        assert item.finished_at is not None and item.next_poll_at is None
    assert "on request" in song.error and "render failed" in video.error


def test_a_refused_submit_fails_at_once_in_plain_words(media, team, alice):
    banned = new_job(alice, team, prompt="[demo:mj_banned] nope")
    full = new_job(alice, team, prompt="[demo:mj_queue_full] later")
    run_pass()
    banned.refresh_from_db()
    full.refresh_from_db()
    assert banned.status == Status.FAILED and banned.upstream_id == ""
    assert banned.error.startswith("The prompt contains a word the service does not allow")
    assert full.status == Status.FAILED and "queue is full" in full.error


def test_a_task_stuck_past_its_deadline_is_failed(media, team, alice):
    job = new_job(alice, team, prompt="forever [demo:never]")
    run_pass()
    media.clock.advance(60)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.RUNNING
    MediaJob.objects.filter(pk=job.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error == "The task took too long and was stopped. Try again."


def test_a_failed_download_keeps_the_job_succeeded_and_is_retried(media, team, alice):
    job = new_job(alice, team, prompt="gone soon [demo:expired]")
    run_pass()
    media.clock.advance(20)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.result_urls
    assert job.missing_files == job.result_urls and not job.files.exists()
    assert job.download_attempts == 1 and job.next_poll_at is not None

    media.media.tasks[job.upstream_id].scenario = ""  # the links work again
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert job.missing_files == [] and job.next_poll_at is None
    assert job.files.count() == len(job.result_urls)


def test_downloads_are_retried_a_few_times_only(media, team, alice):
    job = new_job(alice, team, prompt="gone [demo:expired]")
    run_pass()
    media.clock.advance(20)
    for _ in range(poller.MAX_DOWNLOAD_ATTEMPTS + 2):
        run_pass()
    job.refresh_from_db()
    assert job.download_attempts == poller.MAX_DOWNLOAD_ATTEMPTS
    assert job.next_poll_at is None and job.status == Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_the_management_command_runs_one_pass(media, team, alice):
    from django.core.management import call_command

    job = new_job(alice, team)
    call_command("poll_media_jobs", "--once")
    job.refresh_from_db()
    assert job.status == Status.SUBMITTED


def test_seconds_until_due_follows_the_next_job(team, alice):
    assert poller.seconds_until_due() == poller.IDLE_SECONDS
    job = new_job(alice, team)
    assert poller.seconds_until_due() == 0
    MediaJob.objects.filter(pk=job.pk).update(next_poll_at=timezone.now() + timedelta(seconds=4))
    assert 3 < poller.seconds_until_due() <= 4


def test_the_pollers_reasons_are_translated(team, alice):
    from django.utils import translation

    job = new_job(alice, team)
    job.mark_submitted("1")
    job.deadline = timezone.now() - timedelta(seconds=1)
    with translation.override("zh-hans"):
        assert poller.apply_status(job, None) is True
    assert job.status == Status.FAILED and job.error == "任务耗时过长，已停止。请重试。"  # noqa: RUF001
