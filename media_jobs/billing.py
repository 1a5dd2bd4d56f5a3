"""The one money path of media jobs, through usage's generic API.

A job is reserved at the price its kind's adapter quotes (`reserve`, in the transaction
that saves or re-queues it: a refusal rolls the job back), and closed (`close`) in the
transaction of the transition that ends it: a success is settled at the reserved price (the
gateway reports no cost for tasks or images), a failure or cancellation refunded. The quote
comes from the adapter (media_jobs.providers `quote`: one call of the action's price name,
per image for the images API); None means free upstream, and nothing is reserved.

`closer` is usage's hook for the "job" link (registered in MediaJobsConfig.ready): the sweep
(usage.services.sweep_reservations) hands it records still reserved for jobs that ended,
which only a process killed between a transition and its charge could leave behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from usage import services as usage
from usage.models import UsageRecord

if TYPE_CHECKING:
    from media_jobs.models import MediaJob


def _role(job: MediaJob) -> str:
    from accounts.models import Membership

    membership = Membership.objects.filter(team_id=job.team_id, user=job.created_by_id)
    return membership.values_list("role", flat=True).first() or ""


def reserve(job: MediaJob, *, role: str | None = None) -> UsageRecord | None:
    """Reserve the job's price (usage.BudgetRefused when over budget or not allowed); None
    for an action that is free upstream."""
    from media_jobs.providers import adapter_for

    quote = adapter_for(job.kind).quote(job)
    if quote is None:
        return None
    kind = job.kind if job.kind in UsageRecord.Kind.values else UsageRecord.Kind.IMAGE
    return usage.reserve(
        team=job.team,
        user=job.created_by,
        role=_role(job) if role is None else role,
        kind=kind,
        model=quote.model,
        amount=quote.amount,
        default_price=quote.default_price,
        conversation=job.conversation,
        job=job,
    )


def close(job: Any) -> bool:
    """Settle a succeeded job's reservation, refund a failed or cancelled one's; nothing for
    an active job or one with nothing reserved. Call it inside the transition's transaction."""
    record = usage.pending_record(job=job)
    return record is not None and _close(record, job.status)


def release(job: Any) -> int:
    """Refund every reservation the job still holds (a stuck job retried); how many."""
    count = 0
    while (record := usage.pending_record(job=job)) is not None:
        count += bool(usage.refund(record))
    return count


def _close(record: UsageRecord, status: str) -> bool:
    if status == "succeeded":
        return usage.settle(record, cost=record.reserved, estimated=False)
    if status in ("failed", "cancelled"):
        return usage.refund(record)
    return False


def closer(record: UsageRecord) -> bool:
    """usage's closer for the "job" link: settle or refund `record` by how its job ended;
    False (left reserved) while the job is active, True once closed."""
    from media_jobs.models import MediaJob

    if record.job_id is None:
        return False
    status = MediaJob.objects.filter(pk=record.job_id).values_list("status", flat=True).first()
    if status is None or status in MediaJob.ACTIVE:
        return False
    with transaction.atomic():
        return _close(record, status)
