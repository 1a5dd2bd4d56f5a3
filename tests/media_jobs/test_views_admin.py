"""The media jobs admin: a list by team, kind and status with the error, and a re-poll action."""

from __future__ import annotations

import pytest
from django.urls import reverse

from media_jobs.models import MediaJob
from tests.factories import make_job


@pytest.fixture
def admin_client(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(alice)
    return client


def test_the_list_filters_by_status_and_shows_errors(admin_client, team, alice):
    failed = make_job(team, alice, status=MediaJob.Status.FAILED, error="quota gone")
    make_job(team, alice)
    url = reverse("admin:media_jobs_mediajob_changelist")

    response = admin_client.get(url, {"status__exact": "failed", "q": "quota"})

    assert list(response.context["cl"].result_list) == [failed]
    assert (
        admin_client.get(reverse("admin:media_jobs_mediajob_change", args=[failed.pk])).status_code
        == 200
    )


def test_repoll_makes_active_jobs_due_now_and_frees_their_lease(admin_client, team, alice):
    from datetime import timedelta

    from django.utils import timezone

    later = timezone.now() + timedelta(hours=1)
    running = make_job(
        team, alice, status=MediaJob.Status.RUNNING, next_poll_at=later, lease_until=later
    )
    done = make_job(team, alice, status=MediaJob.Status.SUCCEEDED)

    admin_client.post(
        reverse("admin:media_jobs_mediajob_changelist"),
        {"action": "repoll", "_selected_action": [running.pk, done.pk]},
    )

    assert list(MediaJob.objects.due()) == [running]
    done.refresh_from_db()
    assert done.next_poll_at is None
