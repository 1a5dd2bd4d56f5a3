"""Every HTML fragment that goes down a chat socket, and the stored HTML of a finished reply.

Frames are HTML with hx-swap-oob elements that the htmx ws extension swaps by id; their shape is
docs/chat-contract.md. They render partials of templates/chat/ (the page renders the same
partials), except the three tiny per-token frames below, which are f-strings on the hot path.
Frames are rendered under the page's language (the consumer activates it); those that are the
same for every reply are rendered once per language (`_constant`).

Nothing here touches the database: callers pass loaded objects (chat.services loads them).
"""

from __future__ import annotations

import functools
import html

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from chat import commands, completions, events, rendering
from chat.models import Conversation, Feedback, Message
from chat.threads import ExtraItem, ThreadItem, merge

Status = Message.Status

# Per token: one escaped chunk appended to the streaming text or reasoning container.


def delta_frame(message_id: int, text: str, *, target: str = "text") -> str:
    return (
        f'<div id="message-{message_id}-{target}" hx-swap-oob="beforeend">{html.escape(text)}</div>'
    )


def blocks_frame(message_id: int, html_blocks: str) -> str:
    """Newly complete blocks of a streaming reply, rendered and sanitised (chat.live_render),
    appended to its #message-<pk>-blocks."""
    return f'<div id="message-{message_id}-blocks" hx-swap-oob="beforeend">{html_blocks}</div>'


def tail_frame(message_id: int, tail_html: str) -> str:
    """The open tail of a streaming reply drawn anew (after blocks closed, or when it became a
    code box or a table): safe HTML from chat.live_render's `tail_html`."""
    return f'<div id="message-{message_id}-text" hx-swap-oob="innerHTML">{tail_html}</div>'


def rows_frame(message_id: int, rows_html: str) -> str:
    """Rows of the open table, appended to its body. In a template: a <tbody> cannot stand
    alone in HTML, and htmx parses frames in one."""
    return (
        f'<template><tbody id="message-{message_id}-rows" hx-swap-oob="beforeend">'
        f"{rows_html}</tbody></template>"
    )


def status_frame(message_id: int, text: str) -> str:
    """The status line of a streaming reply (the `message` partial's #message-<pk>-status)."""
    return (
        f'<span id="message-{message_id}-status" hx-swap-oob="innerHTML">{html.escape(text)}</span>'
    )


def live_region_frame(text: str) -> str:
    """The announcement read by screen readers (base.html's #live-region)."""
    return f'<div id="live-region" hx-swap-oob="innerHTML">{html.escape(text)}</div>'


# Messages and threads


def render_message(
    conversation: Conversation,
    item: ThreadItem,
    *,
    can_write: bool,
    oob: bool = False,
    live: tuple[str, str] | None = None,
) -> str:
    """One message's markup; touches no related objects, so it is safe in async code.

    `live`, for a streaming reply: (its complete blocks' HTML, its open tail as plain text),
    from chat.live_render; without it the streaming text is shown plain."""
    context = {"conversation": conversation, "item": item, "can_write": can_write}
    context["message_oob"] = oob
    if live is not None:
        context["live_blocks"], context["live_tail"] = live
    return render_to_string("chat/messages.html#message", context)


def feedback_frame(message_id: int, rating: str, note: str, *, ask_note: bool) -> str:
    """A reply's thumbs as one user now has them (`rating` "" for none); `ask_note` opens the
    note form (for the tab that just rated)."""
    feedback = Feedback(rating=rating, note=note) if rating else None
    context = {"message_id": message_id, "feedback": feedback, "feedback_open": ask_note}
    return render_to_string("chat/messages.html#feedback", {**context, "feedback_oob": True})


def thread_frame(
    conversation: Conversation,
    thread: list[ThreadItem],
    *,
    can_write: bool,
    extras: list[ExtraItem] | None = None,
) -> str:
    """The whole thread as an out-of-band swap, for a tab whose thread changed, with the
    other apps' items (chat.threads.load_extra_items, loaded for the tab's user)."""
    context = {"conversation": conversation, "thread": thread, "can_write": can_write}
    context["thread_entries"] = merge(thread, extras or [])
    return render_to_string("chat/messages.html#thread", {**context, "thread_oob": True})


def reasoning_box_frame(message_id: int, text: str) -> str:
    return render_to_string(
        "chat/messages.html#reasoning-box",
        {"message_id": message_id, "reasoning": text, "reasoning_oob": True},
    )


def streaming_frame(
    conversation: Conversation,
    item: ThreadItem,
    *,
    can_write: bool,
    controls: bool = True,
    live: tuple[str, str] | None = None,
) -> str:
    """A streaming reply as written so far, for a tab that starts following it (`live`: its
    rendered blocks and plain tail, see render_message)."""
    frame = render_message(conversation, item, can_write=can_write, oob=True, live=live)
    return frame + controls_html(streaming=True, can_write=can_write) if controls else frame


def first_frame(
    action: str,
    conversation: Conversation,
    thread: list[ThreadItem],
    *,
    new_title: str | None = None,
    extras: list[ExtraItem] | None = None,
) -> str:
    """For the tab that started a reply: its new messages (a send appends the last two; other
    actions change the branch, so the whole thread, with `extras`), the composer or
    controls, the new title."""
    if action == events.SEND:
        inner = "".join(render_message(conversation, item, can_write=True) for item in thread[-2:])
        parts = [
            f'<div id="thread" hx-swap-oob="beforeend">{inner}</div>',
            composer_html(streaming=True),
        ]
    else:
        parts = [
            thread_frame(conversation, thread, can_write=True, extras=extras),
            error_html(""),
            controls_html(streaming=True),
        ]
    if new_title:
        parts.append(title_html(conversation, new_title))
    return "".join(parts)


def final_frame(conversation: Conversation, item: ThreadItem, *, can_write: bool) -> str:
    """The finished message, the announcement and idle controls, for any tab."""
    return (
        render_message(conversation, item, can_write=can_write, oob=True)
        + live_region_frame(finished_text(item.message))
        + controls_html(streaming=False, can_write=can_write)
    )


def finished_text(message: Message) -> str:
    if message.status == Status.COMPLETE:
        return _("Reply finished.")
    if message.status == Status.STOPPED:
        return _("Reply stopped.")
    if message.error:
        return message.error
    if message.status == Status.INTERRUPTED:
        return _("The reply was cut off before it finished.")
    return _("The reply failed.")


def stored_html(content: str, reasoning: str = "", *, plain: bool = False) -> str:
    """The HTML stored with a finished reply: its reasoning (collapsed), then its answer;
    with `plain` (a completion), the text as it was written (chat.rendering.render_plain).

    Markdown and highlighting take time: call it off the event loop and off the thread every
    database call waits on (chat.streaming runs it in a worker thread of its own)."""
    if not content and not reasoning.strip():
        return ""
    if plain:
        return rendering.render_reasoning(reasoning) + rendering.render_plain(content)
    return rendering.render_reasoning(reasoning) + rendering.render_markdown(content)


# The composer, its controls and the title


def controls_html(*, streaming: bool, can_write: bool = True) -> str:
    """The Send button and the Stop form for a tab that may write; nothing otherwise."""
    return _constant("controls", streaming) if can_write else ""


def composer_html(
    *,
    text: str | None = None,
    error: str = "",
    streaming: bool = False,
    conversation: Conversation | None = None,
    pending_images: list | None = None,
) -> str:
    """The composer; with `pending_images` (and their `conversation`), its tray keeps the
    images attached and not sent yet (templates/chat/_vision.html)."""
    if pending_images:
        return _render_composer(
            text, error, streaming, conversation=conversation, pending_images=pending_images
        )
    if not text and not error:  # the same for every reply
        return _constant("composer", streaming)
    return _render_composer(text, error, streaming)


def vision_choice_html(*, model: str, suggestion: str) -> str:
    """Images sent to a model that cannot see: the choice in the composer (nothing was saved)."""
    context = {"model": model, "suggestion": suggestion, "choice_oob": True}
    return render_to_string("chat/_vision.html#choice", context)


def error_html(error: str) -> str:
    """The composer's error line; an empty one clears it."""
    return _render_error(error) if error else _constant("error", False)


def title_html(conversation: Conversation, title: str) -> str:
    """A new title for the page's heading and the sidebar entry."""
    return render_to_string(
        "chat/conversation_list.html#title-oob", {"conversation": conversation, "title": title}
    )


def _constant(name: str, streaming: bool) -> str:
    """A fragment that is the same for every reply: rendered once per language, limit, set
    of composer modes (they follow what the gateway serves) and, for the composer, the
    instruct models its Complete mode offers."""
    composer = name == "composer"
    modes = tuple(commands.modes()) if composer else ()
    offered = completions.seen_instruct_models() if composer else ()
    key = (translation.get_language(), settings.MESSAGE_MAX_CHARS, modes, offered)
    return _cached(name, streaming, *key)


@functools.lru_cache(maxsize=64)
def _cached(
    name: str,
    streaming: bool,
    language: str | None,
    max_chars: int,
    modes: tuple = (),
    offered: tuple[str, ...] = (),
) -> str:
    if name == "controls":
        context = {"streaming": streaming, "controls_oob": True}
        return render_to_string("chat/messages.html#send-button", context) + render_to_string(
            "chat/messages.html#stop-form", context
        )
    if name == "composer":
        return _render_composer(None, "", streaming, offered)
    return _render_error("")


def _render_composer(
    text: str | None,
    error: str,
    streaming: bool,
    offered: tuple[str, ...] | None = None,
    **extra: object,
) -> str:
    """The composer; its Complete mode offers `offered` (the instruct models as last seen in
    this process, chat.completions: no I/O on the event loop)."""
    context = {
        "complete_models": list(completions.seen_instruct_models() if offered is None else offered),
        "composer_oob": True,
        "composer_text": text if isinstance(text, str) else "",
        "composer_error": error,
        "streaming": streaming,
        "MESSAGE_MAX_CHARS": settings.MESSAGE_MAX_CHARS,
        **extra,
    }
    return render_to_string("chat/messages.html#composer", context)


def _render_error(error: str) -> str:
    return render_to_string(
        "chat/messages.html#composer-error", {"composer_error": error, "error_oob": True}
    )
