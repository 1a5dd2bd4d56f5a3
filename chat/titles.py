"""Titles written by a model (docs/titles.md).

A conversation's first send titles it at once with the first line of the message
(chat.services._update_conversation): the provisional title. Once the first reply is stored
complete, chat.streaming calls `schedule`, which asks a model in the background, in the process
that streamed, for a title of a few words, and puts it in place of the provisional one only if
the title is still that (a rename in the meantime wins). The request is charged like any other
call: reserved first, under the budget (a refusal keeps the provisional title, silently),
settled as its own UsageRecord (kind "title", linked to the conversation and the reply).

The model's answer is hostile text: the key goes (gateway.redact), then markup, quotes and
trailing punctuation, and it is cut to the length of a first-line title.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils.html import format_html, strip_tags
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from accounts.live import apush_fragment
from accounts.models import Membership
from chat import frames, reply_files
from chat.db import reply_db
from chat.models import Conversation, Message
from gateway import chat as gateway_chat
from gateway.errors import GatewayError
from gateway.redact import redact
from usage import services as money
from usage.errors import BudgetRefused
from usage.models import UsageRecord

logger = logging.getLogger(__name__)

OFF = "off"
# What a title request is priced at to decide whether the conversation's own model is cheap
# enough (TITLE_MAX_COST), and what it may write.
PROMPT_TOKENS = 300
MAX_TOKENS = 20
TIMEOUT_SECONDS = 15.0
# What of the first exchange the model reads: enough to know the subject, bounded in cost.
USER_CHARS = 800
REPLY_CHARS = 400
# As long as a first-line title (chat.services.TITLE_CHARS).
MAX_CHARS = 60
# The demo gateway recognises the request by this instruction's first words (demo_gateway).
INSTRUCTION = (
    "Write a title of at most six words for the conversation below, in the language the user "
    "writes in. Answer with the title only: no quotes, no punctuation at the start or the end."
)

_MARKDOWN = re.compile(r"[*_`#~>|]+")
# Quotes and punctuation of Latin and CJK text, taken off a title's ends.
_LABEL = re.compile(r"^\s*(?:title|标题)\s*[:：]\s*", re.IGNORECASE)  # noqa: RUF001
_ENDS = " \t\"'“”‘’«»「」『』《》()（）.,;:!?。，；：！？、…-–—/\\"  # noqa: RUF001


@dataclass(frozen=True)
class TitleRequest:
    conversation_id: UUID
    provisional: str
    model: str
    messages: list[dict[str, Any]]
    record_id: int


def title_model(conversation_model: str) -> str | None:
    """The model asked for a title, or None: TITLE_MODEL "off", or empty with the
    conversation's own model one that makes files (chat.reply_files) or costing more than
    TITLE_MAX_COST for a title."""
    setting = (settings.TITLE_MODEL or "").strip()
    if setting.lower() == OFF:
        return None
    if setting:
        return setting
    if reply_files.brings_files(conversation_model):
        return None  # pictures, songs, a GPT's persona: not a model to ask for a title
    price = money.quote(
        conversation_model, prompt_tokens=PROMPT_TOKENS, completion_tokens=MAX_TOKENS
    )
    if price.amount > Decimal(str(settings.TITLE_MAX_COST)):
        return None
    return conversation_model


def prompt_messages(question: str, answer: str) -> list[dict[str, Any]]:
    conversation = (
        f"User: {Truncator(question).chars(USER_CHARS)}\n\n"
        f"Assistant: {Truncator(answer).chars(REPLY_CHARS)}"
    )
    return [
        {"role": "system", "content": INSTRUCTION},
        {"role": "user", "content": conversation},
    ]


def clean_title(text: str) -> str:
    """The model's answer as a title: the key out, no markup, its first line, no label, quotes
    or punctuation at the ends, whitespace collapsed, at most MAX_CHARS ("" if nothing is left)."""
    text = strip_tags(redact(text or ""))
    line = next((line for line in text.splitlines() if line.strip()), "")
    line = _LABEL.sub("", _MARKDOWN.sub(" ", line))
    # Again: taking markup out may have joined the pieces of a key.
    line = redact(" ".join(line.split())).strip(_ENDS)
    return Truncator(line).chars(MAX_CHARS).strip() if line else ""


def begin_title(*, conversation_id: UUID, message_id: int, provisional: str) -> TitleRequest | None:
    """Reserve a title request for the reply `message_id` (one transaction), or None: the
    title changed already, titles are off or too dear, or the budget refuses."""
    conversation = (
        Conversation.objects.select_related("team", "created_by").filter(pk=conversation_id).first()
    )
    if conversation is None or conversation.title != provisional:
        return None
    reply = (
        Message.objects.select_related("parent")
        .filter(pk=message_id, conversation=conversation, status=Message.Status.COMPLETE)
        .first()
    )
    if reply is None or reply.parent is None:
        return None
    model = title_model(reply.model or settings.DEFAULT_MODEL)
    if model is None:
        return None
    # Only a conversation's creator starts its replies: the title is theirs to pay for.
    membership = Membership.objects.filter(
        team=conversation.team, user=conversation.created_by
    ).first()
    if membership is None:
        return None
    messages = prompt_messages(reply.parent.content, reply.content)
    prompt_tokens = money.estimate_prompt_tokens(messages)
    price = money.quote(model, prompt_tokens=prompt_tokens, completion_tokens=MAX_TOKENS)
    try:
        record = money.reserve(
            team=conversation.team,
            user=conversation.created_by,
            role=membership.role,
            kind=UsageRecord.Kind.TITLE,
            model=model,
            amount=price.amount,
            default_price=price.default_price,
            prompt_tokens=prompt_tokens,
            conversation=conversation,
            message=reply,
        )
    except BudgetRefused:
        return None
    return TitleRequest(conversation.pk, provisional, model, messages, record.pk)


def end_title(*, request: TitleRequest, text: str, usage: Any) -> str | None:
    """Charge the request and put the title in place if the conversation still has the
    provisional one (a conditional UPDATE: a rename meanwhile wins); the title, or None."""
    title = clean_title(text)
    with transaction.atomic():
        record = UsageRecord.objects.filter(pk=request.record_id).first()
        if record is not None:
            money.charge_reply(
                record,
                complete=True,
                delivered=text,
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                completion_tokens=getattr(usage, "completion_tokens", None),
            )
        if not title or title == request.provisional:
            return None
        rows = Conversation.objects.filter(
            pk=request.conversation_id, title=request.provisional
        ).update(title=title)
    return title if rows else None


def refund_title(*, record_id: int) -> None:
    record = UsageRecord.objects.filter(pk=record_id).first()
    if record is not None:
        money.refund(record)


async def write_title(*, conversation: Conversation, message_id: int, provisional: str) -> None:
    """Ask for the title, store it, and send it to every tab of the conversation."""
    request = await reply_db(begin_title)(
        conversation_id=conversation.pk, message_id=message_id, provisional=provisional
    )
    if request is None:
        return
    try:
        text, usage = await gateway_chat.complete_chat(
            model=request.model,
            messages=request.messages,
            max_tokens=MAX_TOKENS,
            timeout=TIMEOUT_SECONDS,
        )
    except Exception as exc:
        if not isinstance(exc, GatewayError):
            logger.exception("Title of conversation %s failed", conversation.pk)
        await reply_db(refund_title)(record_id=request.record_id)
        return
    title = await reply_db(end_title)(request=request, text=text, usage=usage)
    if title:
        await apush_fragment(conversation.group_name, title_frame(title))


def title_frame(title: str) -> str:
    """The new title for every tab of the conversation: its heading, which app.js copies to the
    sidebar's entry when the sidebar shows it (filtered by a search it may not: an
    out-of-band swap without its target is an error in the browser)."""
    heading = format_html('<span id="conversation-title" hx-swap-oob="innerHTML">{}</span>', title)
    announced = _("The conversation is now titled “%(title)s”.") % {"title": title}
    return heading + frames.live_region_frame(announced)


_tasks: set[asyncio.Task[None]] = set()  # referenced until done (the loop keeps weak refs)


def schedule(*, conversation: Conversation, reply: Message, provisional: str | None) -> None:
    """After a reply's final frame (chat.streaming): title the conversation in the background
    when this was its first, complete, chat reply (a provisional title was just set)."""
    if not provisional or reply.status != Message.Status.COMPLETE:
        return
    if (settings.TITLE_MODEL or "").strip().lower() == OFF:
        return  # no task, no trip to the database
    task = asyncio.create_task(
        _guarded(conversation, reply.pk, provisional), name=f"title-{conversation.pk}"
    )
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _guarded(conversation: Conversation, message_id: int, provisional: str) -> None:
    try:
        await write_title(conversation=conversation, message_id=message_id, provisional=provisional)
    except Exception:
        logger.exception("Title of conversation %s failed", conversation.pk)


async def wait_for_titles() -> None:
    """Wait for the titles being written (tests; a clean shutdown)."""
    while _tasks:
        await asyncio.gather(*tuple(_tasks), return_exceptions=True)
