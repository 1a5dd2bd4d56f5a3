"""Reply starts taken together: every start waiting for the database runs in one transaction.

A socket checks the member's access once, at connect (chat.consumers), and keeps it: the
conversation, whether it may write, the member's role, and the member's access version
(accounts.access.access_version) read before that check. Every change that could revoke the
access bumps that number in its own transaction (accounts.signals) and also tells the socket,
which reloads. So inside a start's transaction one comparison replaces the re-check: if the
stored version still equals the socket's, nothing that could revoke the access has happened
since it was checked, even if the event was missed; if it differs, the start takes the full
path (services.begin_reply: the session, the access, then the start) and the socket learns
the new version from its result.

`begin_replies` runs a batch (chat.batching.Batcher: the starts that queued while the database
thread was busy). The plain sends of members whose version holds share their reads: one query
each for the users (locked), the conversations, their messages and attachments, the replies
being written, the vision rules, and usage.services' prices, budgets and counters; their
messages are INSERTed in bulk, their reservations recorded in three statements, their
conversations UPDATEd in one. Every other start (an edit, a regenerate, a retry, a send with
images or in Complete mode, a stale version) runs services.begin_reply in a savepoint of the
same transaction. Each start keeps its own outcome: a refusal is its exception only.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count
from django.http import Http404
from django.utils import timezone

from accounts.access import reload_checked
from accounts.models import User
from chat import attachments, liveness
from chat.batching import Batcher
from chat.events import SEND
from chat.models import Conversation, Message, VisionModel, vision_rule
from chat.services import (
    ReplyStart,
    begin_reply,
    clean_text,
    context_messages,
    new_title_for,
    refuse_if_busy,
    refuse_over_limit,
    replies_being_written,
    send_saved,
    write_fields,
)
from chat.threads import MessageTree
from usage import services as money


@dataclass(frozen=True)
class Checked:
    """What a socket checked at connect: the member's access version read before the check,
    their role in the conversation's team, and when the socket's session expires."""

    version: int
    role: str
    session_expires: datetime.datetime


@dataclass(frozen=True)
class StartRequest:
    """One start as the socket asks for it: begin_reply's arguments and what it checked."""

    conversation_id: UUID
    user: User
    action: str
    session_key: str | None
    checked: Checked | None = None
    options: dict[str, Any] = field(default_factory=dict)  # text, message_id, attachment_ids...


def begin_replies(requests: list[StartRequest]) -> list[ReplyStart | Exception]:
    """Start each reply, in one transaction; per request a ReplyStart (with the access version
    it was checked under) or the exception begin_reply would have raised for it."""
    outcomes: list[ReplyStart | Exception | None] = [None] * len(requests)
    with transaction.atomic():
        versions = _lock_users(requests)
        together = []
        for index, request in enumerate(requests):
            if _may_go_together(request, versions):
                together.append(index)
            else:
                outcomes[index] = _alone(request, versions)
        if together:
            started = _begin_together([requests[i] for i in together], versions)
            for index, outcome in zip(together, started, strict=True):
                outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def _lock_users(requests: list[StartRequest]) -> dict[int, int]:
    """Every asker's access version, their rows locked (one query): serialises each user's
    reply starts across processes, for the limit of replies being written at once."""
    users = User.objects.filter(pk__in={request.user.pk for request in requests})
    if connection.features.has_select_for_update:  # in id order: batches never deadlock
        users = users.select_for_update().order_by("pk")
    return dict(users.values_list("pk", "access_version"))


def _may_go_together(request: StartRequest, versions: dict[int, int]) -> bool:
    """A plain send whose socket's check still holds."""
    checked = request.checked
    options = request.options
    return (
        checked is not None
        and versions.get(request.user.pk) == checked.version
        and checked.session_expires > timezone.now()
        and request.action == SEND
        and not options.get("attachment_ids")
        and options.get("completion") is None
    )


def _alone(request: StartRequest, versions: dict[int, int]) -> ReplyStart | Exception:
    """services.begin_reply with every check, in a savepoint of the batch's transaction."""
    try:
        start = begin_reply(
            conversation_id=request.conversation_id,
            user=request.user,
            action=request.action,
            session_key=request.session_key,
            **request.options,
        )
    except Exception as exc:  # its own outcome; the savepoint is rolled back
        return exc
    return replace(start, access_version=versions.get(request.user.pk))


@dataclass
class _Plan:
    """One start of the batch, checked and priced, before its rows exist."""

    request: StartRequest
    conversation: Conversation
    messages: list[Message]
    parent: Message | None
    model: str
    context: list[dict[str, Any]]
    text: str


def _begin_together(
    requests: list[StartRequest], versions: dict[int, int]
) -> list[ReplyStart | Exception]:
    """The plain sends, decided in order as begin_reply would decide them one after another:
    each sees the replies the ones before it started (the member's limit of replies being
    written) and what they reserved (the budgets); a refused one counts for neither."""
    conversations = reload_checked(Conversation, [r.conversation_id for r in requests], lock=True)
    messages = _messages_of(conversations)
    streaming = _streaming_counts({r.user.pk for r in requests})
    rules = list(VisionModel.objects.all())
    planner = money.ReplyPlanner(
        [
            _charge(request, conversations[request.conversation_id], prompt_tokens=0)
            for request in requests
            if request.conversation_id in conversations
        ]
    )
    outcomes: list[ReplyStart | Exception | None] = [None] * len(requests)
    accepted: list[tuple[int, _Plan, money.PlannedReply]] = []
    for index, request in enumerate(requests):
        try:
            plan = _plan(request, conversations, messages, streaming, rules)
            prompt_tokens = money.estimate_prompt_tokens(plan.context)
            planned = planner.plan(_charge(request, plan.conversation, prompt_tokens))
        except (ValidationError, Http404, money.BudgetRefused) as exc:
            outcomes[index] = exc
            continue
        streaming[request.user.pk] += 1
        accepted.append((index, plan, planned))
    started = _write([(plan, planned) for _index, plan, planned in accepted], versions)
    for (index, _, _), start in zip(accepted, started, strict=True):
        outcomes[index] = start
    return [outcome for outcome in outcomes if outcome is not None]


def _charge(
    request: StartRequest, conversation: Conversation, prompt_tokens: int
) -> money.ReplyCharge:
    """The reservation a plain send asks for (usage.services.ReplyCharge)."""
    return money.ReplyCharge(
        team=conversation.team,
        user=request.user,
        role=request.checked.role,  # type: ignore[union-attr]  # a plain send is checked
        model=conversation.model or settings.DEFAULT_MODEL,
        prompt_tokens=prompt_tokens,
    )


def _messages_of(conversations: dict[UUID, Conversation]) -> dict[UUID, list[Message]]:
    """Every message of the conversations, authors and attachments loaded: two queries."""
    by_conversation: dict[UUID, list[Message]] = defaultdict(list)
    if not conversations:
        return by_conversation
    loaded = list(
        Message.objects.filter(conversation_id__in=conversations).select_related("author")
    )
    attachments.load_into(loaded)
    for message in loaded:
        by_conversation[message.conversation_id].append(message)
    return by_conversation


def _streaming_counts(user_ids: set[int]) -> defaultdict[int, int]:
    """The replies each user has being written now (services.begin_reply's limit): one query."""
    rows = (
        replies_being_written()
        .filter(conversation__created_by__in=user_ids)
        .values_list("conversation__created_by")
        .annotate(count=Count("pk"))
    )
    return defaultdict(int, dict(rows))


def _plan(
    request: StartRequest,
    conversations: dict[UUID, Conversation],
    messages: dict[UUID, list[Message]],
    streaming: dict[int, int],
    rules: list[VisionModel],
) -> _Plan:
    """services.begin_reply's checks of a plain send, on what the batch read."""
    conversation = conversations.get(request.conversation_id)
    if conversation is None:
        raise Http404
    thread = messages.get(conversation.pk, [])
    refuse_if_busy(thread)
    refuse_over_limit(streaming[request.user.pk])
    text = clean_text(request.options.get("text"))
    model = conversation.model or settings.DEFAULT_MODEL
    path = MessageTree(thread).path_to(conversation.current_leaf_id)
    parent = path[-1] if path else None
    asked = Message(author=request.user, role=Message.Role.USER, content=text)
    rule = vision_rule(rules, model)
    sees = rule is not None and rule.sees
    links = sees and rule is not None and rule.url_in_text
    context = context_messages(conversation, [*path, asked], sees=sees, links=links)
    return _Plan(request, conversation, thread, parent, model, context, text)


def _write(
    accepted: list[tuple[_Plan, money.PlannedReply]], versions: dict[int, int]
) -> list[ReplyStart]:
    """The rows of the accepted starts, in bulk: their messages, reservations, conversations."""
    if not accepted:
        return []
    asked = Message.objects.bulk_create(
        [
            Message(
                conversation=plan.conversation,
                parent=plan.parent,
                author=plan.request.user,
                role=Message.Role.USER,
                status=Message.Status.COMPLETE,
                content=plan.text,
                params={},
            )
            for plan, _charge in accepted
        ]
    )
    replies = Message.objects.bulk_create(
        [
            Message(
                conversation=plan.conversation,
                parent=user_message,
                role=Message.Role.ASSISTANT,
                status=Message.Status.STREAMING,
                model=plan.model,
                params={},
                owner=liveness.PROCESS_ID,  # the generation is started in this process
            )
            for (plan, _charge), user_message in zip(accepted, asked, strict=True)
        ]
    )
    reservations = money.record_replies([charge for _plan, charge in accepted], replies)
    titles = [new_title_for(plan.conversation, plan.text) for plan, _charge in accepted]
    _move_leaves([plan.conversation for plan, _charge in accepted], replies)
    send_saved([*asked, *replies], created=True)  # as Message.objects.create() would
    starts = []
    for (plan, _charge), user_message, reply, reservation, title in zip(
        accepted, asked, replies, reservations, titles, strict=True
    ):
        attachments.set_loaded(user_message, [])
        user_message.author = plan.request.user
        thread = MessageTree([*plan.messages, user_message, reply]).thread(reply.pk)
        starts.append(
            ReplyStart(
                conversation=plan.conversation,
                assistant=reply,
                assistant_item=thread[-1],
                model=plan.model,
                temperature=plan.conversation.temperature,
                messages=plan.context,
                thread=thread,
                new_title=title,
                max_tokens=reservation.max_tokens,
                access_version=versions.get(plan.request.user.pk),
            )
        )
    return starts


def _move_leaves(conversations: list[Conversation], replies: list[Message]) -> None:
    """Each conversation's current leaf set to its new reply, its title as set on it, and
    its updated_at to now, written in one executemany (services.write_fields)."""
    now = timezone.now()
    for conversation, reply in zip(conversations, replies, strict=True):
        conversation.current_leaf = reply
        conversation.updated_at = now
    write_fields(conversations, ["current_leaf", "title", "updated_at"])


# The consumer's way in: starts queued while the database thread works run as one batch.
start_reply: Batcher[StartRequest, ReplyStart] = Batcher(begin_replies)
