"""Media-job fixtures: the demo gateway on loopback with a clock driven by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from accounts.models import Membership
from media_jobs import poller, services
from media_jobs.models import MediaJob


class Clock:
    """The demo gateway's clock: tasks move only when a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def media(demo_gateway, settings, tmp_path):
    """The demo gateway with tasks of 10 s (MJ; Suno 15 s, Luma 20 s) on a manual clock."""
    settings.MEDIA_ROOT = tmp_path
    clock = Clock()
    demo_gateway.media.clock = clock
    demo_gateway.media.duration = 10.0
    demo_gateway.clock = clock  # type: ignore[attr-defined]  # for the tests: media.clock
    return demo_gateway


def make_due() -> None:
    """Skip the wait before the next poll (the back-off itself is tested on the model)."""
    past = timezone.now() - timedelta(seconds=1)
    MediaJob.objects.filter(next_poll_at__isnull=False).update(next_poll_at=past)


def run_pass(owner: str = "poller-a") -> int:
    make_due()
    return async_to_sync(poller.poll_once)(owner)


def new_job(user, team, **fields) -> MediaJob:
    fields.setdefault("kind", MediaJob.Kind.MIDJOURNEY)
    fields.setdefault("action", "IMAGINE")
    fields.setdefault("prompt", "a lighthouse at dusk")
    membership = Membership.objects.get(user=user, team=team)
    return services.create_job(user=user, membership=membership, **fields)
