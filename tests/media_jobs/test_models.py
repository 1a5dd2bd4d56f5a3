"""MediaJob's state transitions, poll scheduling and leases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import access
from media_jobs.models import (
    POLL_FIRST_SECONDS,
    POLL_MAX_SECONDS,
    MediaJob,
    clamp_progress,
)
from tests.factories import make_conversation, make_job, row_of

Status = MediaJob.Status


@pytest.fixture
def job(team, alice):
    return make_job(team, alice)


def _submitted(job, now=None) -> MediaJob:
    job.mark_submitted("1712205491372304", now=now)
    return job


def test_a_new_job_is_queued_and_private_to_its_creator(job, alice, bob):
    assert job.status == Status.QUEUED
    assert list(MediaJob.objects.visible_to(alice)) == [job]
    assert list(MediaJob.objects.visible_to(bob)) == []


def test_it_gets_the_team_owned_rule_by_inheriting_it(job, alice, bob, victor, charlie):
    job.is_shared = True
    job.save()
    assert access.get_for_user(bob, MediaJob, job.pk)[0] == job
    assert access.get_rw_for_user(alice, MediaJob, job.pk)[0] == job
    with pytest.raises(access.PermissionDenied):
        access.get_rw_for_user(victor, MediaJob, job.pk)
    with pytest.raises(access.Http404):
        access.get_for_user(charlie, MediaJob, job.pk)


def test_submitted_sets_the_upstream_id_first_poll_and_deadline(job):
    now = timezone.now()
    _submitted(job, now)
    job.refresh_from_db()
    assert job.status == Status.SUBMITTED
    assert job.upstream_id == "1712205491372304"
    assert job.next_poll_at == now + timedelta(seconds=POLL_FIRST_SECONDS)
    assert job.deadline is not None and job.deadline > now


def test_running_writes_only_when_something_moved(job):
    _submitted(job)
    assert job.mark_running(progress=15) is True
    with CaptureQueriesContext(connection) as queries:
        assert job.mark_running(progress=15) is False
    assert len(queries) == 0
    assert job.mark_running(progress=31) is True
    job.refresh_from_db()
    assert (job.status, job.progress) == (Status.RUNNING, 31)


def test_succeeded_keeps_results_buttons_and_ends_polling(job):
    _submitted(job)
    buttons = [{"customId": "MJ::JOB::upsample::1::x", "label": "U1", "emoji": ""}]
    assert job.mark_succeeded(result_urls=["https://cdn.example/grid.png"], buttons=buttons)
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert job.progress == 100
    assert job.buttons == buttons
    assert job.finished_at is not None
    # No more polls: what is left is copying its results, due at once.
    assert not MediaJob.objects.due().filter(pk=job.pk).exists()
    assert MediaJob.objects.downloads_due().filter(pk=job.pk).exists()


@pytest.mark.parametrize("end", ["mark_failed", "mark_cancelled", "mark_succeeded"])
def test_a_finished_job_stays_as_it_ended(job, end):
    _submitted(job)
    job.mark_failed("The gateway said no.")
    before = row_of(job)
    args = {"mark_failed": ("again",), "mark_cancelled": (), "mark_succeeded": ()}[end]
    kwargs = {"result_urls": []} if end == "mark_succeeded" else {}
    assert getattr(job, end)(*args, **kwargs) is False
    assert job.mark_running(progress=50) is False
    assert row_of(job) == before


def test_polls_back_off_on_no_change_and_reset_on_change(job):
    now = timezone.now()
    _submitted(job, now)
    intervals = []
    for _ in range(8):
        job.schedule_next_poll(changed=False, now=now)
        intervals.append(job.poll_interval)
    assert intervals == sorted(intervals)
    assert intervals[0] > POLL_FIRST_SECONDS
    assert intervals[-1] == POLL_MAX_SECONDS
    job.schedule_next_poll(changed=True, now=now)
    job.refresh_from_db()
    assert job.poll_interval == POLL_FIRST_SECONDS
    assert job.next_poll_at == now + timedelta(seconds=POLL_FIRST_SECONDS)


def test_claim_leases_due_jobs_once(team, alice):
    now = timezone.now()
    due = [_submitted(make_job(team, alice), now - timedelta(minutes=1)) for _ in range(3)]
    later = _submitted(make_job(team, alice), now)  # first poll still ahead
    done = make_job(team, alice, status=Status.SUCCEEDED)
    claimed = MediaJob.objects.claim("worker-a", limit=10)
    assert {j.pk for j in claimed} == {j.pk for j in due}
    assert later.pk not in {j.pk for j in claimed} and done.pk not in {j.pk for j in claimed}
    assert MediaJob.objects.claim("worker-b", limit=10) == []  # leases held


def test_a_lapsed_lease_lets_another_worker_take_the_job(team, alice):
    job = _submitted(make_job(team, alice), timezone.now() - timedelta(minutes=1))
    [claimed] = MediaJob.objects.claim("worker-a", lease_seconds=60)
    MediaJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    [again] = MediaJob.objects.claim("worker-b")
    assert again.pk == claimed.pk and again.lease_owner == "worker-b"


def test_schedule_next_poll_releases_the_lease(team, alice):
    _submitted(make_job(team, alice), timezone.now() - timedelta(minutes=1))
    [job] = MediaJob.objects.claim("worker-a")
    job.schedule_next_poll(changed=False)
    job.refresh_from_db()
    assert (job.lease_owner, job.lease_until) == ("", None)


def test_claim_respects_the_limit(team, alice):
    past = timezone.now() - timedelta(minutes=1)
    for _ in range(5):
        _submitted(make_job(team, alice), past)
    assert len(MediaJob.objects.claim("w", limit=2)) == 2
    assert len(MediaJob.objects.claim("w2", limit=10)) == 3


def test_deadline(job):
    now = timezone.now()
    _submitted(job, now)
    assert not job.is_past_deadline(now)
    assert job.is_past_deadline(job.deadline + timedelta(seconds=1))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(45, 45), ("45", 45), ("45.7", 45), (-3, 0), (2**63, 100), ("nan", 0), (None, 0), ("x", 0)],
)
def test_progress_is_clamped(raw, expected):
    assert clamp_progress(raw) == expected


def test_a_job_in_a_conversation_can_be_found_from_it(team, alice, job):
    conversation = make_conversation(team, alice)
    job.conversation = conversation
    job.save()
    assert list(conversation.media_jobs.all()) == [job]


def test_schedule_polls_backs_off_in_one_update_per_interval_and_only_for_the_lease_holder(
    team, alice
):
    jobs = [make_job(team, alice) for _ in range(3)]
    for job in jobs:
        _submitted(job)
    MediaJob.objects.filter(pk__in=[j.pk for j in jobs]).update(next_poll_at=timezone.now())
    claimed = MediaJob.objects.claim("poller-a")
    MediaJob.objects.filter(pk=jobs[2].pk).update(lease_owner="poller-b")  # taken over
    polled = [(job, job.pk == jobs[0].pk) for job in claimed]
    with CaptureQueriesContext(connection) as queries:
        groups = MediaJob.objects.schedule_polls(polled, owner="poller-a")
    assert groups == 2 == len(queries.captured_queries)
    first, second, third = (MediaJob.objects.get(pk=j.pk) for j in jobs)
    assert first.poll_interval == POLL_FIRST_SECONDS and first.lease_owner == ""
    assert second.poll_interval > POLL_FIRST_SECONDS and second.lease_until is None
    assert third.lease_owner == "poller-b"  # another poller's lease is left alone


# A cancel that lands while a submit or a poll of the job is in flight


def _cancelled_elsewhere(job) -> MediaJob:
    """The poller holds `job`; meanwhile the user cancels it (another copy of the row)."""
    from media_jobs import services

    assert services.cancel_job(MediaJob.objects.get(pk=job.pk))
    return job


def test_a_submit_answered_after_a_cancel_leaves_the_job_cancelled_and_due_upstream(job):
    _cancelled_elsewhere(job)
    assert job.mark_submitted("1712205491372304") is False
    row = MediaJob.objects.get(pk=job.pk)
    assert row.status == Status.CANCELLED and job.status == Status.CANCELLED
    # the task exists upstream: kept, and marked, so the poller cancels it there too
    assert row.upstream_id == row.cancel_task_id == "1712205491372304"
    assert row.next_poll_at is None and row.cancel_at is not None
    assert (
        MediaJob.objects.cancels_due(now=timezone.now() + timedelta(seconds=1))
        .filter(pk=job.pk)
        .exists()
    )


@pytest.mark.parametrize(
    "transition",
    [
        lambda job: job.mark_succeeded(result_urls=["https://cdn.example/a.png"]),
        lambda job: job.mark_failed("upstream said no"),
        lambda job: job.mark_running(progress=40),
    ],
    ids=["succeeded", "failed", "running"],
)
def test_a_poll_answered_after_a_cancel_changes_nothing(job, transition):
    _submitted(job)
    _cancelled_elsewhere(job)
    before = row_of(MediaJob.objects.get(pk=job.pk))
    assert transition(job) is False  # so the poller neither charges nor pushes it
    assert row_of(MediaJob.objects.get(pk=job.pk)) == before
    assert job.status == Status.CANCELLED  # the poller's copy is brought up to date


def test_scheduling_the_next_poll_after_a_cancel_keeps_the_cancels_due_time(job):
    _submitted(job)
    _cancelled_elsewhere(job)
    row = MediaJob.objects.get(pk=job.pk)
    assert row.cancel_task_id == job.upstream_id and row.cancel_at is not None
    job.schedule_next_poll(changed=True, now=timezone.now() + timedelta(hours=1))
    after = MediaJob.objects.get(pk=job.pk)
    assert (after.next_poll_at, after.cancel_at) == (None, row.cancel_at)
