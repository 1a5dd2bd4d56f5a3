"""media_jobs in a conversation's thread, through chat's hooks (chat imports none of this):

- the cards (chat.threads.register_items): every job of the conversation the user may see,
  right after the slash command that started it (MediaJob.message), else at the time it
  started (a button press: after what was there then), loaded in a fixed number of queries;
- the title: a conversation still untitled when a job starts in it (a slash command, the
  composer's media mode, a Studio job) is named after the job's prompt (a button press: its
  parent's), and its open tabs get the new title as a chat reply's new title reaches them.

`register()` (called where media_jobs registers its slash commands) plugs both in.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models.signals import post_save
from django.utils.text import Truncator

from accounts.live import push_fragment
from accounts.models import Membership, User
from chat import frames, threads
from chat.models import Conversation, Message
from chat.services import TITLE_CHARS
from media_jobs import cards
from media_jobs.models import MediaJob
from media_jobs.templatetags.media_jobs import card_title, shown_prompt

# The newest jobs shown in one thread (older ones stay in the Studio).
THREAD_LIMIT = 200
TEMPLATE = "media_jobs/_thread_card.html"


def job_items(
    user: User, membership: Membership | None, conversation: Conversation, messages: list[Message]
) -> list[threads.ExtraItem]:
    """The cards of the conversation's jobs `user` may see, oldest first (three queries)."""
    jobs = MediaJob.objects.visible_to(user).filter(conversation=conversation)
    newest = list(cards.jobs_for_cards(user, jobs.order_by("-created_at"))[:THREAD_LIMIT])
    context = {**cards.card_context(user, membership), "in_thread": True}
    return [
        threads.ExtraItem(
            created_at=job.created_at,
            template_name=TEMPLATE,
            context={**context, "job": job},
            after_message_id=job.message_id,
        )
        for job in reversed(newest)
    ]


def title_for(job: MediaJob) -> str:
    """A conversation's title from the job that started it: the first line of its prompt
    (a button press: its parent's), cut like a chat's first message, else the job's name."""
    source = job.parent if job.parent_id and job.parent is not None else job
    lines = shown_prompt(source).strip().splitlines()
    text = lines[0].strip() if lines else ""
    return Truncator(text or card_title(job)).chars(TITLE_CHARS)


def name_conversation(sender, instance: MediaJob, created: bool, **kwargs) -> None:
    """A new job in an untitled conversation names it (one conditional UPDATE: no save
    signals, a title set meanwhile stays), then tells its open tabs after the commit."""
    if not created or instance.conversation_id is None:
        return
    title = title_for(instance)
    untitled = Conversation.objects.filter(pk=instance.conversation_id, title="")
    if title and untitled.update(title=title):
        transaction.on_commit(partial(_push_title, instance.conversation_id, title))


def _push_title(conversation_id, title: str) -> None:
    conversation = Conversation(pk=conversation_id)
    push_fragment(conversation.group_name, frames.title_html(conversation, title))


def register() -> None:
    threads.register_items(job_items)
    post_save.connect(name_conversation, sender=MediaJob, dispatch_uid="media_jobs_titles")
