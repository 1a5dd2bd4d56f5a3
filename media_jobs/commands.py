"""The composer's slash commands /imagine, /suno, /luma and /image (registered in chat.commands
from MediaJobsConfig.ready, with the composer's media modes and media_jobs' thread items):
each stores the command as the user's message, starts the job in the conversation and
answers the asking tab with the message and, right after it at the end of the thread, the
job's card (where the page puts it on reload: media_jobs.thread_items)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import access
from chat import commands
from chat.models import Conversation, Message
from chat.threads import ThreadItem
from media_jobs import cards, services, thread_items
from media_jobs.forms import PROMPT_MAX_CHARS
from media_jobs.models import MediaJob

# Command -> (kind, action, params).
COMMANDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "/imagine": (MediaJob.Kind.MIDJOURNEY, "IMAGINE", {}),
    "/suno": (MediaJob.Kind.SUNO, "MUSIC", {}),
    "/luma": (MediaJob.Kind.LUMA, "GENERATE", {}),
    "/image": (MediaJob.Kind.IMAGE, "GENERATE", {}),
}
# The composer's media modes: a plain message sent in one of them is that command.
MODES = {
    "imagine": gettext_lazy("Image (Midjourney)"),
    "suno": gettext_lazy("Song (Suno)"),
    "luma": gettext_lazy("Video (Luma)"),
    "image": gettext_lazy("Image"),
}


def start(user, membership, conversation: Conversation, text: str) -> str:
    """Store the command, start its job, render the frame (sync: a database thread)."""
    word = text.split(None, 1)[0].lower()
    kind, action, params = COMMANDS[word]
    prompt = commands.argument(text)
    if not prompt:
        raise ValidationError(_("Write what to make after the command, e.g. /imagine a red fox."))
    if len(prompt) > PROMPT_MAX_CHARS:
        raise ValidationError(_("The prompt is too long."))
    # Loaded again through the access helper: rights may have changed since the socket opened.
    conversation, membership = access.get_rw_for_user(user, Conversation, conversation.pk)
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation,
            parent_id=conversation.current_leaf_id,
            author=user,
            role=Message.Role.USER,
            content=text,
        )
        conversation.current_leaf = message
        conversation.save(update_fields=["current_leaf", "updated_at"])
        if kind == MediaJob.Kind.SUNO:  # inspiration mode: the text describes the song
            params, prompt = {**params, "description": prompt}, ""
        if kind == MediaJob.Kind.IMAGE:  # the installation's default model and size
            params = {**params, **image_defaults()}
        job = services.create_job(
            user=user,
            membership=membership,
            kind=kind,
            action=action,
            prompt=prompt,
            params=dict(params),
            conversation=conversation,
        )
        job.message = message
        job.save(update_fields=["message", "updated_at"])
    item = ThreadItem(message, [message.pk])
    message_html = render_to_string(
        "chat/messages.html#message",
        {"conversation": conversation, "item": item, "can_write": True},
    )
    card_html = render_card(user, membership, job, in_thread=True)
    return f'<div hx-swap-oob="beforeend:#thread">{message_html}{card_html}</div>'


def image_defaults() -> dict[str, Any]:
    """/image's options: IMAGE_DEFAULT_MODEL at IMAGE_DEFAULT_SIZE (the model's first size
    if it has not that one), one picture, the model's first quality and style."""
    from media_jobs import image_models

    model = str(settings.IMAGE_DEFAULT_MODEL)
    params: dict[str, Any] = {"model": model, "size": image_models.default_size(model), "n": 1}
    for name, choices in (("quality", image_models.qualities_for(model)),
                          ("style", image_models.styles_for(model))):  # fmt: skip
        if choices:
            params[name] = choices[0][0]
    return params


def render_card(user, membership, job: MediaJob, *, in_thread: bool = False) -> str:
    """The job's card as `user` sees it, with the context every page gives a card
    (media_jobs.cards), so the two never differ."""
    context = {**cards.load_card(user, membership, job.pk), "in_thread": in_thread}
    return render_to_string("media_jobs/_card.html#card", context)


async def handle(user, membership, conversation, text: str) -> str:
    return await database_sync_to_async(start)(user, membership, conversation, text)


# The gateway check's family of a job kind whose name differs.
FAMILIES = {"image": "images"}


def register() -> None:
    for prefix in COMMANDS:
        commands.register(prefix, handle)
    for mode, label in MODES.items():
        kind = str(COMMANDS["/" + mode][0])  # a job kind is its gateway.probe family's name,
        commands.register_mode(mode, label, family=FAMILIES.get(kind, kind))  # but images
    thread_items.register()
