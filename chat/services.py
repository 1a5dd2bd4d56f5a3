"""Database work around one streamed reply: one transaction before it, checkpoints during it
(at most one per STREAM_CHECKPOINT_SECONDS), one transaction after it.

Sync functions with keyword-only arguments; the consumer and chat.streaming call each through
exactly one `database_sync_to_async`. They return data; chat.frames renders it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
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
from chat.threads import MessageTree, ThreadItem, build_thread, reply_cost, settled_cost
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
        attachments.load_into(messages, conversation=conversation)  # one query, always
        if any(_is_live(m) for m in messages):
            raise ValidationError(
                _("A reply is still being written. Wait for it or press Stop."), code="busy"
            )
        limit = settings.MAX_CONCURRENT_REPLIES
        live_elsewhere = Message.objects.filter(
            conversation__created_by=user,  # only a conversation's creator starts its replies
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            updated_at__gt=timezone.now() - live_reply_window(),
        )
        if limit > 0 and live_elsewhere.count() >= limit:
            raise ValidationError(
                ngettext(
                    "You already have %(limit)d reply being written. "
                    "Wait for it to finish or stop it.",
                    "You already have %(limit)d replies being written. "
                    "Wait for one to finish or stop it.",
                    limit,
                )
                % {"limit": limit},
                code="too_many_replies",
            )
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


def _is_live(message: Message) -> bool:
    return message.is_streaming and message.updated_at > timezone.now() - live_reply_window()


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
    new_title = None
    if not conversation.title and text:
        new_title = Truncator(text.splitlines()[0].strip()).chars(TITLE_CHARS)
        conversation.title = new_title
        fields.append("title")
    conversation.save(update_fields=fields)
    return new_title


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


def finish_reply(
    *,
    message_id: int,
    content: str,
    reasoning: str = "",
    html: str,
    status: Message.Status,
    finish_reason: str | None = None,
    usage: UsageLike | None = None,
    error: str = "",
    ttft_ms: int | None = None,
    duration_ms: int | None = None,
) -> ThreadItem:
    """Store the final reply with its HTML (chat.frames.stored_html, rendered by the caller
    off this thread) and its timings (milliseconds from the start of the generation to the
    first content and to the end); return it with its sibling ids. Message.DoesNotExist if it
    is gone.

    Its process may store a reply another process has ended meanwhile (the sweep took the
    process for dead while it retried this save, chat.liveness): the whole text is stored
    anyway over the checkpoint the sweep kept, and the charge the sweep made from that
    checkpoint is corrected to this one (usage.services.recharge_reply). A save that ran
    twice (committed, then reported as failed) corrects nothing."""
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        ended_elsewhere = message.status != Message.Status.STREAMING
        message.content = content
        message.reasoning = reasoning
        message.html = html
        message.status = status
        message.finish_reason = finish_reason or ""
        message.error = error
        message.prompt_tokens = money.clamp_tokens(usage.prompt_tokens) if usage else None
        message.completion_tokens = money.clamp_tokens(usage.completion_tokens) if usage else None
        message.ttft_ms = ttft_ms
        message.duration_ms = duration_ms
        message.save(
            update_fields=[
                "content", "reasoning", "html", "status", "finish_reason", "error",
                "prompt_tokens", "completion_tokens", "ttft_ms", "duration_ms", "updated_at",
            ]
        )  # fmt: skip
        Conversation.objects.filter(pk=message.conversation_id).update(updated_at=timezone.now())
        # Charged in the transaction that ends it: complete, stopped, interrupted or failed,
        # a reply pays for what it delivered (refunded only if it delivered nothing).
        complete = status == Message.Status.COMPLETE
        if not _charge_keeping_the_text(message, complete=complete) and ended_elsewhere:
            # Swept by another process while this one lived: correct what it charged.
            money.recharge_reply(
                message.pk,
                complete=complete,
                delivered=content + reasoning,
                prompt_tokens=message.prompt_tokens,
                completion_tokens=message.completion_tokens,
            )
        message.settled_cost = reply_cost(message.pk)  # type: ignore[attr-defined]  # Details
        sibling_ids = _sibling_ids(message)
    return ThreadItem(message, sibling_ids)


def _charge_keeping_the_text(message: Message, *, complete: bool) -> bool:
    """Charge the reply inside a savepoint: a charge the database refuses (the gateway's
    numbers are hostile input, usage.services clamps them, but a number may still not fit)
    must not lose the reply's text. Then it is charged from the text it delivered; failing
    that too, its record stays reserved and the sweep (usage.services.sweep_reservations)
    closes it later. False only when its record had been closed already (charge_reply)."""
    delivered = message.content + message.reasoning
    reported = (message.prompt_tokens, message.completion_tokens)
    for prompt_tokens, completion_tokens in (reported, (None, None)):
        try:
            with transaction.atomic():
                return money.charge_reply_of(
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
