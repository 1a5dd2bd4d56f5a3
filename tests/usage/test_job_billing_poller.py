"""Media jobs through the real poller and the demo gateway: a success is charged, a refused
submit is refunded, with prices imported from the demo gateway."""

from __future__ import annotations

from decimal import Decimal

import pytest

from media_jobs.models import MediaJob
from tests.media_jobs.conftest import new_job, run_pass
from usage.models import TeamMonth, UsageRecord
from usage.prices import import_from_gateway

# The poller runs through database_sync_to_async, which closes a connection found in a
# transaction (on PostgreSQL): outside one, as in tests/media_jobs/test_poller.py.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def priced_media(media):
    """The media jobs' demo gateway (tests/media_jobs/conftest.py), its prices imported."""
    import_from_gateway()
    return media


def test_a_job_that_succeeds_is_charged_its_price(priced_media, team, alice):
    job = new_job(alice, team)
    run_pass()
    priced_media.media.clock.advance(15)
    run_pass()

    job.refresh_from_db()
    assert job.status == MediaJob.Status.SUCCEEDED
    record = UsageRecord.objects.get(job=job)
    assert record.status == UsageRecord.Status.SETTLED and record.cost == Decimal("0.1")
    row = TeamMonth.objects.get(team=team)
    assert (row.spent, row.reserved) == (Decimal("0.1"), 0)


def test_a_refused_submit_is_refunded(priced_media, team, alice):
    job = new_job(alice, team, prompt="[demo:mj_banned] nope")
    run_pass()

    job.refresh_from_db()
    assert job.status == MediaJob.Status.FAILED
    assert UsageRecord.objects.get(job=job).status == UsageRecord.Status.REFUNDED
    assert TeamMonth.objects.get(team=team).reserved == 0
