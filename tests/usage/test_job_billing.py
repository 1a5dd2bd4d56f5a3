"""Media jobs are charged per action: reserved when created (a refused job is never saved),
settled when the poller sees success, refunded on failure and cancellation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import Membership
from gateway.tasks import CANCELLED, FAILED, SUCCEEDED, TaskStatus
from media_jobs import poller
from media_jobs import services as job_services
from media_jobs.models import MediaJob
from usage.models import Price, TeamMonth, UsageRecord
from usage.services import BudgetRefused

pytestmark = pytest.mark.django_db


@pytest.fixture
def mj_price(db):
    return Price.objects.create(model="mj_imagine", per_action=Decimal("0.1"))


def _create(user, team, **fields):
    fields.setdefault("kind", MediaJob.Kind.MIDJOURNEY)
    fields.setdefault("action", "IMAGINE")
    fields.setdefault("prompt", "a lighthouse")
    membership = Membership.objects.get(user=user, team=team)
    return job_services.create_job(user=user, membership=membership, **fields)


def _reserved(team) -> Decimal:
    return TeamMonth.objects.get(team=team).reserved


def test_a_budget_of_zero_refuses_a_job_and_saves_nothing(team, bob, set_budget, mj_price):
    set_budget(limit="0")

    with pytest.raises(BudgetRefused) as refused:
        _create(bob, team)

    assert "budget" in refused.value.messages[0]
    assert not MediaJob.objects.exists()
    assert not UsageRecord.objects.exists()


def test_a_job_is_reserved_at_its_price_per_action(team, bob, mj_price):
    job = _create(bob, team)

    record = UsageRecord.objects.get(job=job)
    assert (record.kind, record.model, record.reserved) == (
        "midjourney",
        "mj_imagine",
        Decimal("0.1"),
    )
    assert record.status == UsageRecord.Status.RESERVED and not record.default_price
    assert _reserved(team) == Decimal("0.1")


def test_a_job_model_without_a_price_is_flagged(team, bob):
    job = _create(bob, team, kind=MediaJob.Kind.SUNO, action="MUSIC")
    record = UsageRecord.objects.get(job=job)
    assert record.model == "suno_music" and record.default_price


def test_a_succeeded_job_is_settled(team, bob, mj_price):
    job = _create(bob, team)

    poller.apply_status(job, TaskStatus("t1", SUCCEEDED, 100, ("https://x/1.png",)))

    record = UsageRecord.objects.get(job=job)
    assert record.status == UsageRecord.Status.SETTLED and record.cost == Decimal("0.1")
    row = TeamMonth.objects.get(team=team)
    assert (row.spent, row.reserved) == (Decimal("0.1"), 0)


@pytest.mark.parametrize("status", [FAILED, CANCELLED])
def test_a_failed_or_cancelled_job_upstream_is_refunded(team, bob, mj_price, status):
    job = _create(bob, team)

    poller.apply_status(job, TaskStatus("t1", status, fail_reason="banned prompt"))

    assert UsageRecord.objects.get(job=job).status == UsageRecord.Status.REFUNDED
    assert _reserved(team) == 0


def test_a_job_cancelled_by_the_user_is_refunded(team, bob, mj_price):
    job = _create(bob, team)

    assert job_services.cancel_job(job)

    assert UsageRecord.objects.get(job=job).status == UsageRecord.Status.REFUNDED
    assert _reserved(team) == 0


def test_a_retry_is_reserved_again_and_refused_over_budget(team, bob, set_budget, mj_price):
    set_budget(limit="0.1")
    job = _create(bob, team)
    job_services.cancel_job(job)
    assert job_services.retry_job(job)
    assert UsageRecord.objects.filter(job=job).count() == 2
    job_services.cancel_job(job)
    poller.apply_status(job, None)
    _create(bob, team)  # takes the whole budget

    with pytest.raises(BudgetRefused):
        job_services.retry_job(job)

    job.refresh_from_db()
    assert job.status == MediaJob.Status.CANCELLED
