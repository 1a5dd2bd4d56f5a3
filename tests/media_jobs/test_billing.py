"""Media jobs' one money path (media_jobs.billing): each transition that ends a job charges
it in the same transaction, cancel refunds at once for every kind, price names per action
and button, and the sweep closes what a killed process left reserved."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Membership
from media_jobs import billing, services
from media_jobs.models import MediaJob
from media_jobs.providers import adapter_for
from tests.factories import make_job
from tests.media_jobs.conftest import new_job, run_pass
from usage import services as usage
from usage.models import MemberMonth, Price, TeamMonth, UsageRecord

Status = MediaJob.Status
RESERVED, SETTLED, REFUNDED = (
    UsageRecord.Status.RESERVED,
    UsageRecord.Status.SETTLED,
    UsageRecord.Status.REFUNDED,
)


def assert_ledger_balances(team) -> None:
    """Every counter of the team holds exactly what its records say: spent = the settled
    costs, reserved = the reservations still open (per team month and per member month)."""
    records = UsageRecord.objects.filter(team=team)

    def sums(**where):
        spent = records.filter(status=SETTLED, **where).aggregate(s=Sum("cost"))["s"] or 0
        held = records.filter(status=RESERVED, **where).aggregate(s=Sum("reserved"))["s"] or 0
        return Decimal(spent), Decimal(held)

    for row in TeamMonth.objects.filter(team=team):
        assert (row.spent, row.reserved) == sums(month=row.month), row
    for member in MemberMonth.objects.filter(team=team):
        assert (member.spent, member.reserved) == sums(month=member.month, user=member.user_id)


@pytest.fixture
def prices(db):
    for name, amount in (
        ("mj_imagine", "0.1"),
        ("mj_upscale", "0.05"),
        ("suno_music", "0.2"),
        ("luma_generate", "0.4"),
        ("*", "0.03"),
    ):
        # "*" exists already (a data migration installs the site default): set it.
        Price.objects.update_or_create(model=name, defaults={"per_action": Decimal(amount)})


def _create(user, team, **fields) -> MediaJob:
    fields.setdefault("kind", MediaJob.Kind.MIDJOURNEY)
    fields.setdefault("action", "IMAGINE")
    fields.setdefault("prompt", "a red fox at dawn")
    membership = Membership.objects.get(user=user, team=team)
    return services.create_job(user=user, membership=membership, **fields)


# The transition and its charge: one transaction


class Boom(Exception):
    pass


def _explode(*args, **kwargs):
    raise Boom


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("transition", "patched"),
    [
        (lambda job: job.mark_succeeded(result_urls=["https://cdn.example/a.png"]), "settle"),
        (lambda job: job.mark_failed("upstream said no"), "refund"),
        (lambda job: job.mark_cancelled(), "refund"),
        (services.cancel_job, "refund"),
    ],
    ids=["succeeded", "failed", "cancelled-upstream", "cancelled-by-user"],
)
def test_a_charge_that_fails_rolls_the_status_change_back(
    team, alice, prices, monkeypatch, transition, patched
):
    job = _create(alice, team)
    job.mark_submitted("task-1")
    monkeypatch.setattr(usage, patched, _explode)

    with pytest.raises(Boom):
        transition(job)

    row = MediaJob.objects.get(pk=job.pk)
    assert row.status == Status.SUBMITTED and row.finished_at is None
    assert job.status == Status.SUBMITTED  # the object is as the database holds it
    assert UsageRecord.objects.get(job=job).status == RESERVED
    assert_ledger_balances(team)


@pytest.mark.django_db
def test_ending_a_job_charges_it_with_no_separate_call(team, alice, prices):
    won, lost = _create(alice, team), _create(alice, team)
    for job in (won, lost):
        job.mark_submitted(f"task-{job.pk}")

    assert won.mark_succeeded(result_urls=["https://cdn.example/a.png"])
    assert lost.mark_failed("banned")

    assert UsageRecord.objects.get(job=won).status == SETTLED
    assert UsageRecord.objects.get(job=won).cost == Decimal("0.1")
    assert UsageRecord.objects.get(job=lost).status == REFUNDED
    row = TeamMonth.objects.get(team=team)
    assert (row.spent, row.reserved) == (Decimal("0.1"), 0)
    assert_ledger_balances(team)


# Price names


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("custom_id", "action", "name", "title"),
    [
        ("MJ::JOB::upsample::2::abc", "UPSCALE", "mj_upscale", "Upscale 2"),
        ("MJ::JOB::variation::3::abc", "VARIATION", "mj_variation", "Variation 3"),
        ("MJ::JOB::reroll::0::abc::SOLO", "REROLL", "mj_reroll", "Reroll"),
        (
            "MJ::JOB::low_variation::1::abc::SOLO",
            "LOW_VARIATION",
            "mj_low_variation",
            "Vary (Subtle)",
        ),
        (
            "MJ::JOB::high_variation::1::abc::SOLO",
            "HIGH_VARIATION",
            "mj_high_variation",
            "Vary (Strong)",
        ),
        ("MJ::JOB::pan_left::1::abc::SOLO", "PAN", "mj_pan", "Pan left"),
        ("MJ::Outpaint::50::1::abc::SOLO", "ZOOM", "mj_zoom", "Zoom out 2x"),
        ("MJ::Outpaint::75::1::abc::SOLO", "ZOOM", "mj_zoom", "Zoom out 1.5x"),
        ("MJ::Inpaint::1::abc::SOLO", "INPAINT", "mj_inpaint", "Vary (Region)"),
        ("MJ::CustomZoom::1::abc", "CUSTOM_ZOOM", "mj_custom_zoom", "Custom Zoom"),
        (
            "MJ::JOB::upsample_v6_2x_subtle::1::abc::SOLO",
            "UPSCALE",
            "mj_upscale",
            "Upscale (Subtle)",
        ),
        ("MJ::Job::PicReader::2", "MODAL", "mj_modal", "Imagine from prompt 2"),
        ("parlor:seed", "IMAGE_SEED", None, "Seed"),
    ],
)
def test_each_button_makes_its_action_title_and_price_name(
    team, alice, custom_id, action, name, title
):
    parent = make_job(
        team, alice, status=Status.SUCCEEDED, upstream_id="p1", buttons=[{"customId": custom_id}]
    )
    adapter = adapter_for(parent.kind)

    made = adapter.child_for(parent, custom_id)
    assert made is not None and (made[0], str(made[1])) == (action, title)
    fields = adapter.child_params(parent, custom_id, {"prompt": "", "mask": ""})
    assert fields is not None
    child = make_job(team, alice, parent=parent, **fields)
    assert adapter.price_name(child) == name
    assert str(child.title) == title


@pytest.mark.django_db
def test_a_button_not_on_the_job_makes_nothing(team, alice):
    parent = make_job(team, alice, status=Status.SUCCEEDED, buttons=[])
    assert adapter_for(parent.kind).child_for(parent, "MJ::JOB::upsample::1::abc") is None
    assert adapter_for("suno").child_for(parent, "parlor:extend") is None


@pytest.mark.django_db
def test_titles_of_jobs_started_from_forms(team, alice):
    def title(**fields) -> str:
        return str(make_job(team, alice, **fields).title)

    assert title(action="IMAGINE") == "Imagine"
    assert title(action="DESCRIBE") == "Describe"
    assert title(action="BLEND") == "Blend"
    assert title(kind="suno", action="MUSIC") == "Song"
    assert title(kind="suno", action="LYRICS") == "Lyrics"
    assert title(kind="suno", action="MUSIC", params={"continue_clip_id": "c"}) == "Continue song"
    assert title(kind="luma", action="GENERATE") == "Video"
    assert title(kind="luma", action="EXTEND") == "Extend video"


@pytest.mark.django_db
def test_a_seed_is_free_upstream_and_reserves_nothing(team, alice, prices, set_budget_zero):
    parent = make_job(team, alice, status=Status.SUCCEEDED, upstream_id="p1")
    seed = _create(alice, team, action="IMAGE_SEED", parent=parent)  # even on a zero budget
    assert not UsageRecord.objects.filter(job=seed).exists()
    assert billing.reserve(seed) is None


@pytest.fixture
def set_budget_zero(team):
    from usage.models import TeamBudget

    TeamBudget.objects.create(team=team, monthly_limit=Decimal(0))


@pytest.mark.django_db
def test_a_pressed_button_is_reserved_at_its_price_and_an_unpriced_one_at_the_default(
    team, alice, prices
):
    parent = make_job(team, alice, status=Status.SUCCEEDED, upstream_id="p1")
    press = {"parent": parent}
    upscale = _create(alice, team, action="UPSCALE", button="MJ::JOB::upsample::2::a", **press)
    region = _create(alice, team, action="INPAINT", button="MJ::Inpaint::1::a::SOLO", **press)

    record = UsageRecord.objects.get(job=upscale)
    assert (record.model, record.reserved, record.default_price) == (
        "mj_upscale",
        Decimal("0.05"),
        False,
    )
    record = UsageRecord.objects.get(job=region)  # no mj_inpaint price here: the "*" one
    assert (record.model, record.reserved, record.default_price) == (
        "mj_inpaint",
        Decimal("0.03"),
        True,
    )
    assert_ledger_balances(team)


# A process killed between a transition and its charge


@pytest.mark.django_db
def test_the_sweep_closes_what_a_killed_process_left_reserved(team, alice, prices):
    failed, succeeded, running = (_create(alice, team) for _ in range(3))
    # the status written, the process gone before the charge
    MediaJob.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    MediaJob.objects.filter(pk=succeeded.pk).update(status=Status.SUCCEEDED)
    assert UsageRecord.objects.filter(status=RESERVED).count() == 3

    assert usage.sweep_reservations(older_than=timedelta(minutes=2)) == 0  # too recent
    assert usage.sweep_reservations(older_than=timedelta(0)) == 2

    assert UsageRecord.objects.get(job=failed).status == REFUNDED
    assert UsageRecord.objects.get(job=succeeded).status == SETTLED
    assert UsageRecord.objects.get(job=running).status == RESERVED  # still active: left
    row = TeamMonth.objects.get(team=team)
    assert (row.spent, row.reserved) == (Decimal("0.1"), Decimal("0.1"))
    assert_ledger_balances(team)


@pytest.mark.django_db
def test_the_job_closer_is_registered_with_usage():
    from usage.services import _closers

    assert _closers.get("job") is billing.closer


# Stuck jobs and retrying them


@pytest.mark.django_db
def test_a_job_without_progress_for_the_setting_is_stuck(team, alice, settings):
    settings.MEDIA_STUCK_MINUTES = 5
    job = make_job(team, alice, status=Status.RUNNING, last_progress_at=timezone.now())
    assert not job.is_stuck
    job.last_progress_at = timezone.now() - timedelta(minutes=6)
    assert job.is_stuck and job.minutes_without_progress == 6
    job.status = Status.FAILED
    assert not job.is_stuck  # only active jobs


@pytest.mark.django_db
def test_progress_moves_the_last_progress_time(team, alice):
    job = make_job(team, alice)
    job.mark_submitted("t1")
    first = MediaJob.objects.get(pk=job.pk).last_progress_at
    assert first is not None
    MediaJob.objects.filter(pk=job.pk).update(last_progress_at=first - timedelta(minutes=9))
    job.refresh_from_db()
    assert job.mark_running(progress=40)
    assert MediaJob.objects.get(pk=job.pk).last_progress_at > first - timedelta(minutes=9)
    moved = MediaJob.objects.get(pk=job.pk).last_progress_at
    assert job.mark_running(progress=40) is False  # nothing moved: nothing written
    assert MediaJob.objects.get(pk=job.pk).last_progress_at == moved


@pytest.mark.django_db
def test_a_stuck_job_is_retried_as_a_fresh_run_and_its_task_cancelled(team, alice, prices):
    job = _create(alice, team)
    job.mark_submitted("old-task")
    job.mark_running(progress=30)
    assert services.retry_job(job) is False  # not stuck yet: nothing to retry
    MediaJob.objects.filter(pk=job.pk).update(
        last_progress_at=timezone.now() - timedelta(minutes=30)
    )
    job.refresh_from_db()
    assert job.is_stuck

    assert services.retry_job(job) is True

    job.refresh_from_db()
    assert job.status == Status.QUEUED and job.upstream_id == "" and job.progress == 0
    assert (job.cancel_task_id, job.cancel_attempts) == ("old-task", 0)
    assert job.cancel_at is not None and not job.is_stuck
    records = list(UsageRecord.objects.filter(job=job).order_by("pk"))
    assert [r.status for r in records] == [REFUNDED, RESERVED]
    assert_ledger_balances(team)
    assert services.retry_job(job) is False  # a second click: queued already


@pytest.mark.django_db
def test_a_stuck_retry_refunds_before_it_reserves_and_over_budget_changes_nothing(
    team, alice, prices
):
    from usage.models import TeamBudget
    from usage.services import BudgetRefused

    budget = TeamBudget.objects.create(team=team, monthly_limit=Decimal("0.1"))
    job = _create(alice, team)  # takes the whole budget
    job.mark_submitted("old-task")
    stale = timezone.now() - timedelta(minutes=30)
    MediaJob.objects.filter(pk=job.pk).update(last_progress_at=stale)

    assert services.retry_job(job) is True  # the old run's 0.1 freed in the same transaction
    assert_ledger_balances(team)

    job.mark_submitted("second-task")
    MediaJob.objects.filter(pk=job.pk).update(last_progress_at=stale)
    budget.monthly_limit = Decimal("0.05")
    budget.save()
    with pytest.raises(BudgetRefused):
        services.retry_job(job)

    row = MediaJob.objects.get(pk=job.pk)
    assert (row.status, row.upstream_id, row.cancel_task_id) == (
        Status.SUBMITTED,
        "second-task",
        "old-task",
    )
    assert UsageRecord.objects.filter(job=job, status=RESERVED).count() == 1
    assert_ledger_balances(team)


@pytest.mark.django_db
def test_the_stuck_setting_is_read(team, alice, settings):
    settings.MEDIA_STUCK_MINUTES = 60
    job = make_job(team, alice, status=Status.RUNNING)
    MediaJob.objects.filter(pk=job.pk).update(
        last_progress_at=timezone.now() - timedelta(minutes=30)
    )
    job.refresh_from_db()
    assert not job.is_stuck and services.retry_job(job) is False


# Through the poller and the demo gateway (database_sync_to_async: outside a transaction)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("midjourney", {"action": "IMAGINE"}),
        ("suno", {"action": "MUSIC", "prompt": "", "params": {"description": "x"}}),
        ("luma", {"action": "GENERATE"}),
    ],
)
def test_cancelling_a_never_ending_job_of_each_kind_refunds_it_at_once(
    media, team, alice, prices, kind, fields
):
    media.media.mj_plus = True
    fields = dict(fields)
    if "params" in fields:
        fields["params"] = {"description": "forever [demo:never]"}
    else:
        fields["prompt"] = "forever [demo:never]"
    job = new_job(alice, team, kind=kind, **fields)
    run_pass()
    media.clock.advance(600)
    run_pass()
    job.refresh_from_db()
    assert job.is_active and UsageRecord.objects.get(job=job).status == RESERVED

    assert services.cancel_job(job)

    assert UsageRecord.objects.get(job=job).status == REFUNDED  # before any poller pass
    assert TeamMonth.objects.get(team=team).reserved == 0
    assert_ledger_balances(team)
    run_pass()
    job.refresh_from_db()
    assert job.status == Status.CANCELLED and job.cancel_task_id == ""
    assert media.media.tasks[job.upstream_id].cancelled == (kind == "midjourney")
    assert_ledger_balances(team)


@pytest.mark.django_db(transaction=True)
def test_a_job_failed_upstream_is_refunded_and_a_success_settled(media, team, alice, prices):
    failed = new_job(alice, team, prompt="a storm [demo:fail]")
    done = new_job(alice, team, kind="luma", action="GENERATE", prompt="waves")
    run_pass()
    media.clock.advance(60)
    run_pass()

    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.status, done.status) == (Status.FAILED, Status.SUCCEEDED)
    assert UsageRecord.objects.get(job=failed).status == REFUNDED
    record = UsageRecord.objects.get(job=done)
    assert (record.status, record.cost) == (SETTLED, Decimal("0.4"))
    assert_ledger_balances(team)


@pytest.mark.django_db(transaction=True)
def test_a_stuck_midjourney_job_retried_has_its_old_task_cancelled_upstream(
    media, team, alice, prices
):
    media.media.mj_plus = True
    job = new_job(alice, team, prompt="forever [demo:never]")
    run_pass()
    job.refresh_from_db()
    old = job.upstream_id
    MediaJob.objects.filter(pk=job.pk).update(
        last_progress_at=timezone.now() - timedelta(minutes=30)
    )

    assert services.retry_job(job)
    run_pass()  # cancels the old task, submits the new run
    run_pass()

    assert media.media.tasks[old].cancelled
    job.refresh_from_db()
    assert job.upstream_id and job.upstream_id != old and job.cancel_task_id == ""
    assert job.status in (Status.SUBMITTED, Status.RUNNING)
    assert_ledger_balances(team)


@pytest.mark.django_db(transaction=True)
async def test_the_poller_loop_sweeps_reservations_once_a_minute_not_every_pass(media, monkeypatch):
    import asyncio

    from media_jobs import poller

    calls: list[timedelta | None] = []

    def sweep(**kwargs) -> int:
        calls.append(kwargs.get("older_than"))
        return 0

    monkeypatch.setattr(poller.usage, "sweep_reservations", sweep)
    stop = asyncio.Event()
    loop_task = asyncio.create_task(poller.run_poller("loop", stop=stop))
    try:
        for _ in range(100):
            if calls:
                break
            await asyncio.sleep(0.02)
        poller.wake()  # a second pass within the minute: no second sweep
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        poller.wake()
        await asyncio.wait_for(loop_task, 10)

    assert calls == [None]
