"""A job card's data, the same on every page that shows cards: the gallery, a job's page, a
card's refresh (what live pushes fetch), a slash command's answer and the chat thread
(media_jobs.thread_items). Templates get it from here and nowhere else."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from accounts.models import Membership, User
from media_jobs.models import MediaJob


def jobs_for_cards(user: User, queryset: QuerySet[MediaJob]) -> QuerySet[MediaJob]:
    """Everything a card shows, in a fixed number of queries whatever the number of jobs:
    the creator and the parent joined, the files and the children `user` may see prefetched."""
    visible_children = MediaJob.objects.visible_to(user).order_by("created_at")
    return queryset.select_related("created_by", "parent").prefetch_related(
        "files", Prefetch("children", queryset=visible_children)
    )


def card_context(user: User, membership: Membership | None) -> dict[str, Any]:
    """What the card template needs besides `job`: `viewer`; `can_press` (the role writes in
    the team: buttons, Retry); `is_owner` (the team's owner may cancel anyone's job). A card
    offers Cancel on an active job to its creator (with a writing role) and to an owner: the
    rule of MediaJob.may_cancel, which the cancel view enforces."""
    return {
        "viewer": user,
        "can_press": membership is not None and membership.can_write,
        "is_owner": membership is not None and membership.role == Membership.Role.OWNER,
    }


def load_card(user: User, membership: Membership | None, job_id: Any) -> dict[str, Any]:
    """The context of one job's card, loaded for `user` (who may see it: the caller checked)."""
    job = jobs_for_cards(user, MediaJob.objects.all()).get(pk=job_id)
    return {**card_context(user, membership), "job": job}
