"""Telling open tabs that a job changed or was added: a signal, never the job's content.

Every push is one element put into the page's `#live-updates` (every page that shows cards
has it, hidden, so the swap never misses its target):

    <div hx-swap-oob="beforeend:#live-updates"><div data-job-changed="HEX" data-card-url=URL
         data-conversation="HEX|" data-parent="HEX|"></div></div>

(`data-job-added` for a new job). static/js/app.js reads it and removes it: a changed job's
card is fetched again where the tab shows it (nothing happens where it does not); a new job's
card is fetched and appended at the end of the thread of its conversation, or put in a job
list (`[data-job-cards]`: the gallery's, a job page's children when it is their parent), once.
The tab fetches the card with its own session, so what it gets is what its user may see
(media_jobs:card checks access): a push leaks nothing, whichever group it reaches. Groups: the
job's conversation, its creator's tabs, and the team only when the job is shared.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html

from accounts.live import apush_fragment, push_fragment, team_group, user_group
from chat.models import Conversation
from media_jobs.models import MediaJob

UPDATES_ID = "live-updates"


def card_url(job: MediaJob) -> str:
    return reverse("media_jobs:card", args=[job.pk])


def _signal(job: MediaJob, event: str) -> str:
    return format_html(
        '<div hx-swap-oob="beforeend:#{}"><div data-job-{}="{}" data-card-url="{}"'
        ' data-conversation="{}" data-parent="{}"></div></div>',
        UPDATES_ID,
        event,
        job.pk.hex,
        card_url(job),
        job.conversation_id.hex if job.conversation_id else "",
        job.parent_id.hex if job.parent_id else "",
    )


def job_changed_frame(job: MediaJob) -> str:
    """Refreshes the job's card wherever a tab shows one (nothing anywhere else)."""
    return _signal(job, "changed")


def job_added_frame(job: MediaJob) -> str:
    """Shows a new job: at the end of its conversation's thread, or in a job list."""
    return _signal(job, "added")


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
