"""Starting, retrying and cancelling media jobs.

MINIMAL STAND-IN written by M2 so the views and commands run: the lead keeps M1's version
(same signatures), which also wakes the poller. Nothing here calls the gateway.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import Membership, User
from media_jobs.models import MediaJob


def create_job(
    *,
    user: User,
    membership: Membership,
    kind: str,
    action: str,
    prompt: str = "",
    params: dict[str, Any] | None = None,
    conversation=None,
    parent: MediaJob | None = None,
    button: str = "",
    idempotency_key: str = "",
) -> MediaJob:
    """Save a QUEUED job; a key already used by this user returns that job instead."""
    if idempotency_key:
        existing = MediaJob.objects.filter(created_by=user, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    fields: dict[str, Any] = {
        "team_id": membership.team_id,
        "created_by": user,
        "kind": kind,
        "action": action,
        "prompt": prompt,
        "params": params or {},
        "conversation": conversation,
        "parent": parent,
        "button": button,
        "idempotency_key": idempotency_key,
        "is_shared": bool(conversation is not None and conversation.is_shared),
    }
    try:
        with transaction.atomic():
            return MediaJob.objects.create(**fields)
    except IntegrityError:
        return MediaJob.objects.get(created_by=user, idempotency_key=idempotency_key)


def retry_job(job: MediaJob) -> bool:
    """Queue a failed or cancelled job again (the same row); False if it was not one."""
    count = MediaJob.objects.filter(
        pk=job.pk, status__in=(MediaJob.Status.FAILED, MediaJob.Status.CANCELLED)
    ).update(status=MediaJob.Status.QUEUED, error="", progress=0, finished_at=None)
    job.refresh_from_db()
    return count == 1


def cancel_job(job: MediaJob) -> bool:
    """Stop tracking an active job."""
    return job.mark_cancelled()
