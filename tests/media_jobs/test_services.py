"""Creating, retrying, cancelling and sharing jobs; who sees them; a worker killed mid-pass."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.db import IntegrityError
from django.utils import timezone

from accounts.models import Membership
from media_jobs import live, poller, services
from media_jobs.models import MediaFile, MediaJob
from tests.factories import make_conversation
from tests.media_jobs.conftest import make_due, new_job, run_pass

Status = MediaJob.Status
# database_sync_to_async (the poller) closes a connection found inside a transaction: on
# PostgreSQL each test must run outside one.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_job_is_queued_due_now_and_private_outside_a_conversation(team, alice, bob):
    job = new_job(alice, team)
    assert job.status == Status.QUEUED and job.next_poll_at <= timezone.now()
    assert job.deadline is not None and not job.is_shared
    assert list(MediaJob.objects.visible_to(bob)) == []


def test_a_job_is_as_shared_as_its_conversation(team, alice, bob):
    shared = new_job(alice, team, conversation=make_conversation(team, alice, is_shared=True))
    private = new_job(alice, team, conversation=make_conversation(team, alice))
    assert shared.is_shared and not private.is_shared
    assert list(MediaJob.objects.visible_to(bob)) == [shared]


def test_sharing_and_unsharing_the_conversation_moves_its_jobs(team, alice, bob):
    conversation = make_conversation(team, alice)
    job = new_job(alice, team, conversation=conversation)
    conversation.is_shared = True
    conversation.save(update_fields=["is_shared"])
    job.refresh_from_db()
    assert job.is_shared and list(MediaJob.objects.visible_to(bob)) == [job]
    conversation.is_shared = False
    conversation.save()
    job.refresh_from_db()
    assert not job.is_shared and list(MediaJob.objects.visible_to(bob)) == []


def test_charlie_never_sees_the_teams_jobs_or_files(team, alice, charlie, other_team):
    job = new_job(alice, team, conversation=make_conversation(team, alice, is_shared=True))
    MediaFile.objects.create(job=job, kind="image", file="x.png", content_type="image/png")
    assert list(MediaJob.objects.visible_to(charlie)) == []
    assert not MediaFile.objects.filter(job__in=MediaJob.objects.visible_to(charlie)).exists()


def test_a_job_cannot_be_created_in_another_teams_conversation(team, alice, charlie, other_team):
    foreign = make_conversation(other_team, charlie)
    with pytest.raises(ValueError):
        new_job(alice, team, conversation=foreign)


def test_the_same_idempotency_key_returns_the_first_job(team, alice):
    first = new_job(alice, team, idempotency_key="k1")
    again = new_job(alice, team, idempotency_key="k1")
    assert again.pk == first.pk and MediaJob.objects.count() == 1


def test_idempotency_holds_when_two_requests_race(team, alice, monkeypatch):
    """The second request checked before the first saved: the unique key catches it."""
    first = new_job(alice, team, idempotency_key="race")
    real = services._by_key
    calls = []

    def missed_once(user, key):
        calls.append(key)
        return None if len(calls) == 1 else real(user, key)

    monkeypatch.setattr(services, "_by_key", missed_once)
    again = new_job(alice, team, idempotency_key="race")
    assert again.pk == first.pk and MediaJob.objects.count() == 1
    assert len(calls) == 2


def test_without_a_key_nothing_is_deduplicated_and_other_errors_still_raise(
    team, alice, monkeypatch
):
    new_job(alice, team)
    new_job(alice, team)
    assert MediaJob.objects.count() == 2
    monkeypatch.setattr(
        MediaJob, "save", lambda self, **kw: (_ for _ in ()).throw(IntegrityError("x"))
    )
    with pytest.raises(IntegrityError):
        new_job(alice, team)


def test_retry_queues_a_failed_job_again_once(team, alice):
    job = new_job(alice, team)
    job.mark_failed("boom")
    assert services.retry_job(job) is True
    assert services.retry_job(job) is False  # a double click
    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.error == "" and job.submit_started_at is None
    assert job.finished_at is None and job.next_poll_at is not None


def test_retry_drops_the_stored_results_of_the_last_run(media, team, alice):
    job = new_job(alice, team)
    run_pass()
    media.clock.advance(20)
    run_pass()
    job.refresh_from_db()
    stored = list(job.files.all())
    assert stored
    MediaJob.objects.filter(pk=job.pk).update(status=Status.FAILED)
    assert services.retry_job(job) is True
    assert not job.files.exists()
    assert not any(f.file.storage.exists(f.file.name) for f in stored)
    assert all(f.thumbnail for f in stored)
    assert not any(f.thumbnail.storage.exists(f.thumbnail.name) for f in stored)


def test_cancel_stops_an_active_job_and_only_once(team, alice):
    job = new_job(alice, team)
    assert services.cancel_job(job) is True
    assert services.cancel_job(job) is False
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.next_poll_at is None
    assert list(MediaJob.objects.due()) == []


def test_a_create_pushes_a_gallery_insertion_and_wakes_the_poller(
    team, alice, monkeypatch, django_capture_on_commit_callbacks
):
    pushed, woken = [], []
    monkeypatch.setattr(live, "push_fragment", lambda group, html: pushed.append((group, html)))
    monkeypatch.setattr(poller, "wake", lambda: woken.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        job = new_job(alice, team)
    assert woken == [1]
    assert [group for group, _ in pushed] == [f"user_{alice.pk}"]
    html = pushed[0][1]
    assert html.startswith('<div hx-swap-oob="beforeend:#live-updates"><div data-job-added="')
    assert job.pk.hex in html and job.prompt not in html


def test_the_stub_points_at_the_card_url(team, alice):
    job = new_job(alice, team)
    frame = live.job_changed_frame(job)
    assert f'data-job-changed="{job.pk.hex}" data-card-url="{live.card_url(job)}"' in frame
    assert str(job.pk) in live.card_url(job)


# --- a worker killed mid-pass --------------------------------------------------------


def test_a_poller_killed_before_recording_its_submit_never_submits_twice(media, team, alice):
    job = new_job(alice, team)
    # poller A claims the job, starts the submit... and dies before the answer is stored
    (claimed,) = MediaJob.objects.claim("poller-a")
    assert poller._start_submit(claimed, "poller-a")
    assert MediaJob.objects.claim("poller-b") == []  # A's lease still holds
    MediaJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    run_pass("poller-b")
    job.refresh_from_db()
    assert job.status == Status.FAILED and "may or may not have started" in job.error
    assert not [r for r in media.requests if "/submit/" in r.path]


def test_a_poller_killed_mid_fetch_leaves_the_job_to_another_and_nothing_is_done_twice(
    media, team, alice
):
    job = new_job(alice, team)
    run_pass("poller-a")
    media.clock.advance(20)
    make_due()
    (stale,) = MediaJob.objects.claim("poller-a")  # A claims, fetches... and stalls
    status = async_to_sync(poller._fetch)(stale.kind, [stale.upstream_id])[stale.upstream_id]
    assert run_pass("poller-b") == 0  # the lease keeps B off
    MediaJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert run_pass("poller-b") == 1
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    stored = job.files.count()
    assert stored == len(job.result_urls) > 0
    # A wakes up and finishes its pass with what it fetched: no second file, no new state
    async_to_sync(poller._apply)(stale, status)
    assert job.files.count() == stored
    assert MediaFile.objects.count() == stored
    assert len([r for r in media.requests if "/submit/" in r.path]) == 1


def test_only_the_lease_holder_may_start_a_submit(team, alice):
    job = new_job(alice, team)
    (claimed,) = MediaJob.objects.claim("poller-a")
    assert poller._start_submit(claimed, "poller-b") is False
    assert poller._start_submit(claimed, "poller-a") is True
    assert poller._start_submit(claimed, "poller-a") is False
    job.refresh_from_db()
    assert job.submit_started_at is not None


def test_membership_is_the_users(team, alice, bob):
    membership = Membership.objects.get(user=bob, team=team)
    with pytest.raises(ValueError):
        services.create_job(user=alice, membership=membership, kind="midjourney", action="IMAGINE")
