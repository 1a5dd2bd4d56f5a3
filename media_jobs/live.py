"""Telling open tabs that a job changed: a refresh stub, never the job's content.

Every push is the same empty element, `<div id="job-HEX" hx-get=CARD_URL hx-trigger="load"
hx-swap="outerHTML" hx-swap-oob="outerHTML">`: it replaces a card the tab already shows,
and the tab then fetches the card with its own session, so what it gets is what its user
may see (media_jobs:card checks access). A push therefore leaks nothing, whichever group
it reaches. Groups: the job's conversation, its creator's tabs, and the team only when the
job is shared.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html

from accounts.live import apush_fragment, push_fragment, team_group, user_group
from chat.models import Conversation
from media_jobs.models import MediaJob

GALLERY_LIST_ID = "job-list"


def card_url(job: MediaJob) -> str:
    return reverse("media_jobs:card", args=[job.pk])


def _stub(job: MediaJob, oob: str = "") -> str:
    swap_oob = format_html(' hx-swap-oob="{}"', oob) if oob else ""
    return format_html(
        '<div id="job-{}" hx-get="{}" hx-trigger="load" hx-swap="outerHTML"{}></div>',
        job.pk.hex,
        card_url(job),
        swap_oob,
    )


def job_changed_frame(job: MediaJob) -> str:
    """Replaces the job's card wherever a tab shows one (nothing anywhere else)."""
    return _stub(job, "outerHTML")


def job_added_frame(job: MediaJob) -> str:
    """Puts a new job at the top of a gallery's `#job-list` (ignored where there is none)."""
    return format_html(
        '<div hx-swap-oob="afterbegin:#{}">{}</div>',
        GALLERY_LIST_ID,
        _stub(job),
    )


def groups_for(job: MediaJob) -> list[str]:
    groups = [user_group(job.created_by_id)]
    if job.conversation_id is not None:
        groups.insert(0, Conversation.group_name_for(job.conversation_id))
    if job.is_shared:
        groups.append(team_group(job.team_id))
    return groups


async def apush_job(job: MediaJob) -> None:
    frame = job_changed_frame(job)
    for group in groups_for(job):
        await apush_fragment(group, frame)


def push_job(job: MediaJob) -> None:
    frame = job_changed_frame(job)
    for group in groups_for(job):
        push_fragment(group, frame)


def push_job_added(job: MediaJob) -> None:
    frame = job_added_frame(job)
    for group in groups_for(job):
        push_fragment(group, frame)
