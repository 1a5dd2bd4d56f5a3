"""Database work around one streamed reply: one transaction before it, checkpoints during it
(at most one per STREAM_CHECKPOINT_SECONDS), one transaction after it.

Sync functions with keyword-only arguments; the consumer and chat.streaming call each through
exactly one `database_sync_to_async`. They return data; chat.frames renders it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Q, QuerySet
from django.db.models.signals import post_save
from django.http import Http404
from django.utils import timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.access import get_rw_for_user
from accounts.models import User
from chat import attachments, completions, liveness, speech
from chat.completions import CompletionOptions, CompletionRequest
from chat.events import EDIT, REGENERATE, REPLY_ACTIONS, SEND
from chat.models import (
    GPT,
    Attachment,
    Conversation,
    Message,
    VisionModel,
    sees_images,
    vision_rule,
)
from chat.sessions import SessionEnded, session_is_current
from chat.signals import reply_ended
from chat.threads import MessageTree, ThreadItem, build_thread, reply_costs, settled_cost
from chat.vision import ImageRef, image_part
from gateway import catalogue
from usage import services as money
from usage.models import UsageRecord

logger = logging.getLogger(__name__)

TITLE_CHARS = 60


class UsageLike(Protocol):  # read-only, as gateway.types.Usage (a frozen dataclass) is
    @property
    def prompt_tokens(self) -> int | None: ...

    @property
    def completion_tokens(self) -> int | None: ...


@dataclass(frozen=True)
class ReplyStart:
    conversation: Conversation
    assistant: Message
    assistant_item: ThreadItem
    model: str
    temperature: float | None
    # Image parts hold chat.vision.ImageRef until chat.vision.resolve_images reads them.
    messages: list[dict[str, Any]]
    # The thread as it now is, to the new reply (chat.frames.first_frame renders it for the tab
    # that asked, while the upstream request is in flight).
    thread: list[ThreadItem]
    new_title: str | None
    # A completion (the composer's Complete mode, chat.completions) instead of a chat reply.
    completion: CompletionRequest | None = None
    # A chat reply's max_tokens: what the budget left pays for (None: the model's own limit).
    max_tokens: int | None = None
    # The asker's access version it was checked under (chat.starts), for the socket to keep.
    access_version: int | None = None

    @property
    def assistant_id(self) -> int:
        return self.assistant.pk


class VisionChoiceNeeded(Exception):
    """Images sent to a model that cannot see: nothing was saved; the member chooses between
    `suggestion` (a model the gateway lists that can see, or "") and the text alone."""

    def __init__(self, *, model: str, suggestion: str) -> None:
        super().__init__(model)
        self.model, self.suggestion = model, suggestion


# The answers to the choice (the composer's `vision` field).
SEND_TEXT_ALONE = "text"
SWITCH_PREFIX = "switch:"


def begin_reply(
    *,
    conversation_id: UUID | str,
    user: User,
    action: str,
    text: str | None = None,
    message_id: int | str | None = None,
    session_key: str | None = None,
    attachment_ids: Any = None,
    vision: Any = "",
    completion: dict[str, Any] | None = None,
    model: Any = None,
) -> ReplyStart:
    """Save the user's message and the assistant placeholder; raise PermissionDenied, Http404
    or ValidationError (nothing saved) when the reply may not start. With `session_key` (a
    socket's), raise chat.sessions.SessionEnded if that session is no longer valid.

    A send may carry `attachment_ids`, images the user attached in this conversation and not
    sent yet (chat.attachments), linked to the new message. To a model that cannot see,
    VisionChoiceNeeded (nothing saved) unless `vision` answers it: SEND_TEXT_ALONE (the images
    are dropped) or SWITCH_PREFIX + a listed model that can see (the conversation moves to it).

    `completion`, with a send: the Complete mode's options as sent (chat.completions); an
    edit, regenerate or retry of a completion runs it again with the options it was sent with.

    `model`, with a regenerate of a chat reply: the model the new version is written with (one
    of `regenerate_models`, else ValidationError); the conversation's model stays as it is."""
    if action not in REPLY_ACTIONS:
        raise ValidationError(_("Unknown action."))
    requested_model = model
    with transaction.atomic():
        # The user's row, locked: serialises this user's reply starts across processes (for
        # the limit below) and is read now, so a password change or deactivation counts.
        current_user = User.objects.select_for_update().filter(pk=user.pk).first()
        if session_key is not None and not session_is_current(session_key, current_user):
            raise SessionEnded
        conversation, membership = get_rw_for_user(user, Conversation, conversation_id)
        # Serialise replies per conversation across processes, then refuse while one is being
        # written. SQLite has no row locks (select_for_update would be a plain query): its
        # IMMEDIATE transactions already serialise every writer, so it skips the round trip.
        if connection.features.has_select_for_update:
            Conversation.objects.select_for_update().filter(pk=conversation.pk).exists()
        # Authors loaded now: the thread is rendered from async code (the user messages' names).
        messages = list(conversation.messages.select_related("author"))
        attachments.load_into(messages)  # one query (none in a new conversation)
        refuse_if_busy(messages)
        if settings.MAX_CONCURRENT_REPLIES > 0:
            # Only a conversation's creator starts its replies.
            refuse_over_limit(replies_being_written().filter(conversation__created_by=user).count())
        tree = MessageTree(messages)
        if action in (SEND, EDIT):
            text = clean_text(text)
        options = _completion_options(tree, action, message_id, completion)
        params = options.as_params() if options is not None else {}
        model = options.model if options is not None else conversation.model
        model = model or settings.DEFAULT_MODEL
        if requested_model is not None and action == REGENERATE:
            model = _regenerate_model(conversation, membership.role, options, requested_model)
        vision_rules = list(VisionModel.objects.all())
        images: list[Attachment] = []
        if action == SEND:
            ids = attachments.clean_ids(attachment_ids)
            taken = attachments.take_pending(conversation=conversation, user=user, ids=ids)
            images = [a for a in taken if a.kind == Attachment.Kind.IMAGE]
            others = [a for a in taken if a.kind != Attachment.Kind.IMAGE]  # recordings
            if options is None:  # a completion sends no images: they only go with the prompt
                images, model = _images_for_model(conversation, model, images, vision, vision_rules)
            images += others
        parent, user_message = _user_turn(
            conversation, tree, user, action, text, message_id, params=params
        )
        if action == SEND and user_message is not None:
            attachments.link(images, user_message)
        elif action == EDIT and user_message is not None:
            edited = tree.get(message_id)  # its images go with the new version
            attachments.copy_to(attachments.loaded(edited), user_message)
        assistant = Message.objects.create(
            conversation=conversation,
            parent=parent if user_message is None else user_message,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            model=model,
            params=params,
            owner=liveness.PROCESS_ID,  # the generation is started in this process
        )
        new_title = _update_conversation(conversation, assistant, action, text)
        created = [m for m in (user_message, assistant) if m is not None]
        thread = MessageTree(messages + created).thread(assistant.pk)
        request, max_tokens = None, None
        if options is not None:
            prompt_message = user_message or parent  # the prompt typed, edited or answered again
            prompt = prompt_message.content if prompt_message is not None else ""
            context = []
            # As below: reserved before anything goes upstream, or all of this rolls back.
            reservation = completions.reserve(
                team=conversation.team,
                user=user,
                role=membership.role,
                options=options,
                prompt=prompt,
                conversation=conversation,
                message=assistant,
            )
            sent = replace(options, max_tokens=reservation.max_tokens or options.max_tokens)
            request = CompletionRequest(options=sent, prompt=prompt)
        else:
            rule = vision_rule(vision_rules, model)
            context = context_messages(
                conversation,
                [item.message for item in thread[:-1]],
                sees=rule is not None and rule.sees,
                links=rule is not None and rule.sees and rule.url_in_text,
            )
            # Reserve the reply's estimated cost before anything goes upstream; a refusal
            # (usage.services.BudgetRefused) rolls all of this back. Under a budget the
            # reply may write only what the money left pays for: its max_tokens.
            max_tokens = money.reserve_reply(
                team=conversation.team,
                user=user,
                role=membership.role,
                model=model,
                prompt_tokens=money.estimate_prompt_tokens(context),
                max_tokens=None,
                conversation=conversation,
                message=assistant,
            ).max_tokens
    return ReplyStart(
        conversation=conversation,
        assistant=assistant,
        assistant_item=thread[-1],
        model=model,
        temperature=conversation.temperature,
        messages=context,
        thread=thread,
        new_title=new_title,
        completion=request,
        max_tokens=max_tokens if request is None else None,
    )


def vision_suggestion(rules: list[VisionModel] | None = None) -> str:
    """The model to offer for images: the site's default model if it can see, else the first
    the gateway lists (as cached) that can; "" when none can."""
    rules = list(VisionModel.objects.all()) if rules is None else rules
    listed = catalogue.list_chat_models()
    candidates = [settings.DEFAULT_MODEL, *listed]
    return next((m for m in candidates if m in listed and sees_images(rules, m)), "")


def _images_for_model(
    conversation: Conversation,
    model: str,
    images: list[Attachment],
    vision: Any,
    rules: list[VisionModel],
) -> tuple[list[Attachment], str]:
    """The images to send and the model to send them to, after the member's choice; raise
    VisionChoiceNeeded when the model cannot see and they have not chosen yet."""
    if not images:
        return images, model
    vision = vision if isinstance(vision, str) else ""
    if vision == SEND_TEXT_ALONE:
        Attachment.objects.filter(pk__in=[a.pk for a in images]).delete()
        return [], model
    if vision.startswith(SWITCH_PREFIX):
        target = vision.removeprefix(SWITCH_PREFIX)
        if not sees_images(rules, target) or target not in catalogue.list_chat_models():
            raise ValidationError(_("Choose one of the models offered."), code="bad_model")
        conversation.model = target
        conversation.save(update_fields=["model"])
        return images, target
    if not sees_images(rules, model):
        raise VisionChoiceNeeded(model=model, suggestion=vision_suggestion(rules))
    return images, model


def regenerate_models(conversation: Conversation, role: str) -> list[str]:
    """The models a reply of `conversation` may be regenerated with by a member of `role`: the
    gateway's chat models (as cached; GPTs aside) after the conversation's own and the site's
    default, less those the team's budget does not allow the role (usage.services.check_model)."""
    listed = catalogue.list_chat_models()
    offered = [conversation.model, settings.DEFAULT_MODEL]
    offered += [m for m in listed if not m.lower().startswith(GPT.MODEL_PREFIX)]
    budget = money.team_budget(conversation.team)
    return [m for m in dict.fromkeys(offered) if m and (budget is None or budget.allows(role, m))]


def _regenerate_model(
    conversation: Conversation, role: str, options: CompletionOptions | None, requested: Any
) -> str:
    """The model a regenerate asked for, checked: one of regenerate_models, for a chat reply
    (a completion is run again with its own options)."""
    offered = regenerate_models(conversation, role) if options is None else []
    if not isinstance(requested, str) or requested not in offered:
        raise ValidationError(_("Choose one of the models offered."), code="bad_model")
    return requested


def _completion_options(
    tree: MessageTree, action: str, message_id: int | str | None, sent: dict[str, Any] | None
) -> CompletionOptions | None:
    """The Complete mode's options of this reply, or None for a chat reply: those sent with a
    send (checked: ValidationError), else those of the prompt it answers again (an edited
    prompt, or the prompt of the reply regenerated or retried)."""
    if action == SEND:
        return completions.clean_options(sent) if sent is not None else None
    try:
        target = tree.get(message_id)
    except Http404:
        return None  # _user_turn says so
    if target.role == Message.Role.ASSISTANT and target.parent_id:
        target = tree.by_id.get(target.parent_id) or target
    return CompletionOptions.from_params(target.params)


def live_reply_window() -> timedelta:
    """How long a reply may go untouched and still count as being written: past this, the
    process writing it is taken for dead (see interrupt_orphaned_replies)."""
    return timedelta(seconds=settings.GATEWAY_READ_TIMEOUT + 60)


def replies_being_written() -> QuerySet[Message]:
    """Replies streaming now, less those whose process is taken for dead (live_reply_window):
    what MAX_CONCURRENT_REPLIES counts per user."""
    return Message.objects.filter(
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        updated_at__gt=timezone.now() - live_reply_window(),
    )


def refuse_if_busy(messages: list[Message]) -> None:
    """ValidationError ("busy") if a reply among a conversation's `messages` is being written."""
    since = timezone.now() - live_reply_window()
    if any(m.is_streaming and m.updated_at > since for m in messages):
        raise ValidationError(
            _("A reply is still being written. Wait for it or press Stop."), code="busy"
        )


def refuse_over_limit(being_written: int) -> None:
    """ValidationError ("too_many_replies") if a user with `being_written` replies streaming
    may start no other (MAX_CONCURRENT_REPLIES; 0 is no limit)."""
    limit = settings.MAX_CONCURRENT_REPLIES
    if limit > 0 and being_written >= limit:
        raise ValidationError(
            ngettext(
                "You already have %(limit)d reply being written. Wait for it to finish or stop it.",
                "You already have %(limit)d replies being written. "
                "Wait for one to finish or stop it.",
                limit,
            )
            % {"limit": limit},
            code="too_many_replies",
        )


def clean_text(text: Any) -> str:
    # NUL cannot be stored in a PostgreSQL text column; U+FFFD, as the markdown renderer shows it.
    text = text.replace("\x00", "\ufffd").strip() if isinstance(text, str) else ""
    if not text:
        raise ValidationError(_("Write a message first."), code="empty")
    if len(text) > settings.MESSAGE_MAX_CHARS:
        raise ValidationError(
            _("Your message is too long: %(length)d characters, the limit is %(limit)d.")
            % {"length": len(text), "limit": settings.MESSAGE_MAX_CHARS},
            code="too_long",
        )
    return text


def _user_turn(
    conversation: Conversation,
    tree: MessageTree,
    user: User,
    action: str,
    text: str | None,
    message_id: int | str | None,
    *,
    params: dict[str, Any],
) -> tuple[Message | None, Message | None]:
    """Return (parent of the new message, the new user message or None)."""
    if action == SEND:
        path = tree.path_to(conversation.current_leaf_id)
        parent = path[-1] if path else None
        return parent, _create_user_message(conversation, parent, user, text, params)
    target = tree.get(message_id)  # loaded already, in this transaction
    expected_role = Message.Role.USER if action == EDIT else Message.Role.ASSISTANT
    if target.role != expected_role or target.is_streaming:
        raise Http404
    parent = tree.by_id.get(target.parent_id) if target.parent_id else None
    if action == EDIT:
        return parent, _create_user_message(conversation, parent, user, text, params)
    return parent, None


def _create_user_message(
    conversation: Conversation,
    parent: Message | None,
    user: User,
    text: str | None,
    params: dict[str, Any],
) -> Message:
    return Message.objects.create(
        conversation=conversation,
        parent=parent,
        author=user,
        role=Message.Role.USER,
        status=Message.Status.COMPLETE,
        content=text or "",
        params=params,
    )


def _update_conversation(
    conversation: Conversation, assistant: Message, action: str, text: str | None
) -> str | None:
    conversation.current_leaf = assistant
    fields = ["current_leaf", "updated_at"]
    new_title = new_title_for(conversation, text)
    if new_title is not None:
        fields.append("title")
    conversation.save(update_fields=fields)
    return new_title


def new_title_for(conversation: Conversation, text: str | None) -> str | None:
    """The title an untitled conversation takes from its first message's first line (set on
    it, not saved), or None when it has one or there is no text."""
    if conversation.title or not text:
        return None
    conversation.title = Truncator(text.splitlines()[0].strip()).chars(TITLE_CHARS)
    return conversation.title


def context_messages(
    conversation: Conversation, path: list[Message], *, sees: bool = False, links: bool = False
) -> list[dict[str, Any]]:
    """The messages sent upstream: the system prompt, then the thread's turns. A user message
    with images (loaded with it) becomes content parts, its text then its images, only when
    the model `sees`; otherwise, and in assistant messages always, the text alone, so no
    image part ever reaches a model that would refuse the whole request for it. With `links`
    (the gateway convention of -all models, VisionModel.url_in_text) and a PUBLIC_URL, the
    images go as signed links before the text instead."""
    context: list[dict[str, Any]] = []
    if conversation.system_prompt.strip():
        context.append({"role": "system", "content": conversation.system_prompt})
    for message in path:
        if message.role == Message.Role.ASSISTANT and not message.content:
            continue  # a failed or empty reply has nothing to say to the model
        images = attachments.loaded(message) if message.role == Message.Role.USER else []
        images = [a for a in images if a.kind == Attachment.Kind.IMAGE and a.file]
        if not (sees and images):
            context.append({"role": message.role, "content": message.content})
            continue
        urls = [attachments.public_link(a) for a in images] if links else []
        if urls and all(urls):
            context.append({"role": message.role, "content": " ".join([*urls, message.content])})
            continue
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
        parts += [image_part(ImageRef(a.file.name or "", a.content_type)) for a in images]
        context.append({"role": message.role, "content": parts})
    return context


def checkpoint_reply(*, message_id: int, content: str) -> int:
    """Save the text so far; return the rows touched. 0 means the reply is gone (its
    conversation was deleted) or no longer streaming (swept as interrupted): stop writing it."""
    return Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
        content=content, updated_at=timezone.now()
    )


@dataclass(frozen=True)
class ReplyEnd:
    """One reply's end, as finish_reply takes it: the final text with its HTML
    (chat.frames.stored_html, rendered by the caller off the database thread), how it ended,
    the gateway's counts and its timings (milliseconds from the start of the generation to
    the first content and to the end)."""

    message_id: int
    content: str
    html: str
    status: Message.Status
    reasoning: str = ""
    finish_reason: str | None = None
    usage: UsageLike | None = None
    error: str = ""
    ttft_ms: int | None = None
    duration_ms: int | None = None


# What a reply's end writes to its row.
END_FIELDS = [
    "content", "reasoning", "html", "status", "finish_reason", "error",
    "prompt_tokens", "completion_tokens", "ttft_ms", "duration_ms", "updated_at",
]  # fmt: skip


def finish_reply(**end: Any) -> ThreadItem:
    """Store one reply's end (ReplyEnd's fields) and return it with its sibling ids:
    finish_replies for one. Message.DoesNotExist if it is gone."""
    (outcome,) = finish_replies([ReplyEnd(**end)])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def finish_replies(ends: list[ReplyEnd]) -> list[ThreadItem | Exception]:
    """Store replies that ended together (chat.streaming's final saves, taken as one batch by
    chat.batching) in one transaction, and settle their charges in it; one outcome per end,
    in order: the stored reply with its sibling ids, or that end's exception
    (Message.DoesNotExist for a reply that is gone), which never touches its neighbours.

    What the ends share is read and written once: their rows locked in one query, their
    reserved records and prices in two (usage.services.ReplyCharges), the budget counters
    moved in one UPDATE per table, the rows saved in one statement, their conversations'
    updated_at in one UPDATE, their costs and siblings in one query each. Per end there is
    only its charge, in a savepoint of its own (`_charge_keeping_the_text`), so a charge the
    database refuses keeps the text. A database error fails the whole batch (the batcher
    then runs each end alone).

    A process may store a reply another process has ended meanwhile (the sweep took the
    process for dead while it retried this save, chat.liveness): the whole text is stored
    anyway over the checkpoint the sweep kept, and the charge the sweep made from that
    checkpoint is corrected to this one (usage.services.recharge_reply). A save that ran
    twice (committed, then reported as failed) corrects nothing."""
    with transaction.atomic():
        locked = Message.objects.select_for_update().filter(pk__in=[e.message_id for e in ends])
        messages = {message.pk: message for message in locked}
        charges = money.ReplyCharges.for_replies(list(messages))
        outcomes = [_end(messages.get(end.message_id), end, charges) for end in ends]
        charges.release()
        stored = [outcome for outcome in outcomes if isinstance(outcome, Message)]
        costs: dict[int, Any] = {}
        siblings: dict[tuple[UUID, int | None], list[int]] = {}
        if stored:
            _save_ends(stored)
            conversation_ids = {message.conversation_id for message in stored}
            Conversation.objects.filter(pk__in=conversation_ids).update(updated_at=timezone.now())
            costs = reply_costs([message.pk for message in stored])
            siblings = _siblings_of(stored)
    send_saved(stored, created=False, update_fields=frozenset(END_FIELDS))
    return [
        outcome
        if isinstance(outcome, Exception)
        else _item(
            outcome, costs.get(outcome.pk), siblings[outcome.conversation_id, outcome.parent_id]
        )
        for outcome in outcomes
    ]


def send_saved(
    messages: list[Message], *, created: bool, update_fields: frozenset[str] | None = None
) -> None:
    """The post_save that Message.save() would have sent, for rows written in bulk
    (bulk_create, an UPDATE of several): search by meaning's embedder wakes for them."""
    for message in messages:
        post_save.send(
            sender=Message, instance=message, created=created, update_fields=update_fields,
            raw=False, using=message._state.db,
        )  # fmt: skip


def _end(
    message: Message | None, end: ReplyEnd, charges: money.ReplyCharges
) -> Message | Exception:
    """One end of finish_replies' batch: its row's new values (saved by the caller) and its
    charge, or the exception that is this end's outcome."""
    if message is None:
        return Message.DoesNotExist(f"Reply {end.message_id} is gone")
    ended_elsewhere = message.status != Message.Status.STREAMING
    message.content = end.content
    message.reasoning = end.reasoning
    message.html = end.html
    message.status = end.status
    message.finish_reason = end.finish_reason or ""
    message.error = end.error
    message.prompt_tokens = money.clamp_tokens(end.usage.prompt_tokens) if end.usage else None
    message.completion_tokens = (
        money.clamp_tokens(end.usage.completion_tokens) if end.usage else None
    )
    message.ttft_ms = end.ttft_ms
    message.duration_ms = end.duration_ms
    # Charged in the transaction that ends it: complete, stopped, interrupted or failed,
    # a reply pays for what it delivered (refunded only if it delivered nothing).
    complete = end.status == Message.Status.COMPLETE
    try:
        charged = _charge_keeping_the_text(message, complete=complete, charge=charges.charge)
        if not charged and ended_elsewhere:
            _recharge(message, complete=complete)
    except DatabaseError:
        raise  # the database refused: the batch fails, and the batcher runs each end alone
    except Exception as exc:  # rolled back with its savepoint; the neighbours go on
        return exc
    return message


def _recharge(message: Message, *, complete: bool) -> None:
    """A reply swept by another process while this one lived: correct what the sweep
    charged (in a savepoint, so a failure leaves nothing of this end)."""
    with transaction.atomic():
        money.recharge_reply(
            message.pk,
            complete=complete,
            delivered=message.content + message.reasoning,
            prompt_tokens=message.prompt_tokens,
            completion_tokens=message.completion_tokens,
        )


def _save_ends(messages: list[Message]) -> None:
    """Write the ended rows' END_FIELDS, updated_at now."""
    now = timezone.now()
    for message in messages:
        message.updated_at = now
    write_fields(messages, END_FIELDS)


def write_fields(rows: Sequence[models.Model], names: list[str]) -> None:
    """Write the fields `names` of `rows` (of one model, as set on them): one UPDATE by pk,
    run for every row in one executemany, and no signal. bulk_update's CASE per column costs
    more the more rows it holds (about 5 ms a row at 150 rows on SQLite, against 0.1 ms here
    and 0.5 ms for save())."""
    if not rows:
        return
    meta = rows[0]._meta
    fields = [field for field in meta.concrete_fields if field.name in names]
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
    table, pk = quote(meta.db_table), quote(str(meta.pk.column))
    values = [
        [
            *(field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields),
            meta.pk.get_db_prep_value(row.pk, connection),
        ]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET {columns} WHERE {pk} = %s", values)  # noqa: S608


def _item(message: Message, cost: Any, sibling_ids: list[int]) -> ThreadItem:
    message.settled_cost = cost  # type: ignore[attr-defined]  # Details
    return ThreadItem(message, sibling_ids)


def _charge_keeping_the_text(
    message: Message, *, complete: bool, charge: Callable[..., bool]
) -> bool:
    """Charge the reply inside a savepoint: a charge the database refuses (the gateway's
    numbers are hostile input, usage.services clamps them, but a number may still not fit)
    must not lose the reply's text. Then it is charged from the text it delivered; failing
    that too, its record stays reserved and the sweep (usage.services.sweep_reservations)
    closes it later. False only when its record had been closed already (charge_reply).
    `charge` is usage.services.ReplyCharges.charge (charge_reply_of's signature)."""
    delivered = message.content + message.reasoning
    reported = (message.prompt_tokens, message.completion_tokens)
    for prompt_tokens, completion_tokens in (reported, (None, None)):
        try:
            with transaction.atomic():
                return charge(
                    message.pk,
                    complete=complete,
                    delivered=delivered,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                )
        except (DatabaseError, ArithmeticError):
            logger.exception("Could not charge reply %s", message.pk)
    logger.error("Reply %s is stored uncharged; the sweep will charge it", message.pk)
    return True


def fail_reply(*, message_id: int, error: str) -> int:
    """The fallback when finish_reply failed: mark the reply failed, keeping its last
    checkpoint, so it does not block its conversation, and charge what that checkpoint
    delivered (in the same transaction). The rows touched."""
    with transaction.atomic():
        rows = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
            status=Message.Status.FAILED, error=error, updated_at=timezone.now()
        )
        if rows:
            stored = Message.objects.filter(pk=message_id).values_list("content", "reasoning")
            content, reasoning = stored.first() or ("", "")
            money.charge_reply_of(message_id, complete=False, delivered=content + reasoning)
    return rows


def load_message_item(*, conversation_id: UUID | str, message_id: int) -> ThreadItem | None:
    """A message and its siblings, for tabs that follow a reply from another process."""
    messages = Message.objects.filter(conversation_id=conversation_id, pk=message_id)
    message = messages.annotate(settled_cost=settled_cost()).first()
    if message is None:
        return None
    return ThreadItem(message, _sibling_ids(message))


def _sibling_ids(message: Message) -> list[int]:
    """The versions of a message (itself included), oldest first."""
    return list(
        Message.objects.filter(conversation_id=message.conversation_id, parent=message.parent_id)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )


def _siblings_of(messages: list[Message]) -> dict[tuple[UUID, int | None], list[int]]:
    """_sibling_ids of several messages in one query, by (conversation id, parent id)."""
    parents = {m.parent_id for m in messages if m.parent_id is not None}
    roots = {m.conversation_id for m in messages if m.parent_id is None}
    versions = Q(parent_id__in=parents) | Q(parent__isnull=True, conversation_id__in=roots)
    rows = Message.objects.filter(versions).order_by("created_at", "pk")
    siblings: dict[tuple[UUID, int | None], list[int]] = defaultdict(list)
    for pk, conversation_id, parent_id in rows.values_list("pk", "conversation_id", "parent_id"):
        siblings[conversation_id, parent_id].append(pk)
    return siblings


def load_thread(*, conversation: Conversation) -> list[ThreadItem]:
    """The current thread as stored, for a tab whose thread changed (refreshes the leaf)."""
    conversation.refresh_from_db(fields=["current_leaf"])
    return build_thread(conversation)


def conversation_exists(*, conversation_id: UUID) -> bool:
    return Conversation.objects.filter(pk=conversation_id).exists()


def copy_title(title: str) -> str:
    """The title of a private copy: "Copy of <title>", within the field's length."""
    field = Conversation._meta.get_field("title")
    limit = field.max_length or 200
    return Truncator(_("Copy of %(title)s") % {"title": title or _("New chat")}).chars(limit)


def fork_conversation(*, conversation: Conversation, user: User) -> Conversation:
    """A private copy for `user` of the thread shown now, messages in order with parents,
    titled as a copy so the sidebar does not show two identical entries."""
    path = MessageTree.for_conversation(conversation).path_to(conversation.current_leaf_id)
    with transaction.atomic():
        fork = Conversation.objects.create(
            team_id=conversation.team_id,
            created_by=user,
            title=copy_title(conversation.title),
            model=conversation.model,
            system_prompt=conversation.system_prompt,
            temperature=conversation.temperature,
            forked_from=conversation,
        )
        parent = None
        for message in path:
            copy = message.copy_to(fork, parent=parent)
            attachments.copy_to(attachments.loaded(message), copy)  # the images too
            parent = copy
        fork.current_leaf = parent
        fork.save(update_fields=["current_leaf"])
    return fork


def interrupt_reply(message: Message, *, error: str) -> bool:
    """Mark one `streaming` reply interrupted, keeping its last checkpoint, charge what that
    checkpoint delivered (one transaction), then send `chat.signals.reply_ended`. Conditional
    on the row still being `streaming`: False (and no signal) when another process finished
    or interrupted it first."""
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, status=Message.Status.STREAMING).update(
            status=Message.Status.INTERRUPTED, error=error, updated_at=timezone.now()
        )
        if not updated:
            return False
        # Read after the UPDATE, which holds the row: the last checkpoint is final.
        message.refresh_from_db(fields=["status", "error", "updated_at", "content", "reasoning"])
        money.charge_reply_of(
            message.pk, complete=False, delivered=message.content + message.reasoning
        )
    reply_ended.send(sender=Message, message=message, status=Message.Status.INTERRUPTED)
    return True


def interrupt_orphaned_replies(*, idle_for: timedelta | None = None) -> int:
    """Mark replies left `streaming` by a process that died as interrupted, one by one through
    `interrupt_reply`. With `idle_for`, only those untouched that long (other processes may
    still be writing theirs in scale mode); without it, all of them (embedded mode, at start).
    Returns how many were interrupted."""
    orphans = Message.objects.filter(status=Message.Status.STREAMING)
    if idle_for is not None:
        orphans = orphans.filter(updated_at__lt=timezone.now() - idle_for)
    error = _("Parlor restarted while this reply was being written.")
    return sum(interrupt_reply(message, error=error) for message in orphans.order_by("pk"))


def close_reply_record(record: UsageRecord) -> bool:
    """usage's sweep, for a record still reserved for a reply (registered for the link
    "message" in ChatConfig.ready): a reply still streaming is left to the sweep for orphaned
    replies (False); a reply that ended without its charge (its process died in between) is
    charged for what its stored text delivered, under a lock on the reply's row."""
    if record.message_id is None:
        return False
    if record.kind == UsageRecord.Kind.TITLE:  # its process died asking: nothing was shown
        return money.refund(record)
    if record.kind != UsageRecord.Kind.CHAT:  # a part read aloud has a closer of its own
        closed = speech.close_record(record)
        if closed is not None:
            return closed
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(pk=record.message_id)
            .only("status", "content", "reasoning", "prompt_tokens", "completion_tokens")
            .first()
        )
        if message is None or message.status == Message.Status.STREAMING:
            return False  # deleted (the next sweep finds the record unlinked) or still live
        return money.charge_reply(
            record,
            complete=message.status == Message.Status.COMPLETE,
            delivered=message.content + message.reasoning,
            prompt_tokens=message.prompt_tokens,
            completion_tokens=message.completion_tokens,
        )
