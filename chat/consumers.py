"""The conversation websocket: actions from the composer in, HTML fragments out.

Thin on purpose: database work is in chat.services (one `database_sync_to_async` call per
action), the token path in chat.streaming.
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header

from accounts.access import get_for_user
from accounts.live import user_group
from accounts.models import User
from chat import services
from chat.models import Conversation, Message
from chat.services import ReplyStart
from chat.sessions import SessionEnded, check_session
from chat.streaming import (
    Generation,
    Subscriber,
    controls_html,
    final_frame,
    live_region_frame,
    registry,
)
from chat.threads import ThreadItem

WRITE_ACTIONS = ("send", "edit", "regenerate", "retry", "stop")
# "sync": a tab that reconnected with a reply still shown as streaming asks for the thread.
ACTIONS = (*WRITE_ACTIONS, "sync")
# Frames one socket may send: a burst of FRAME_BURST, refilled over FRAME_WINDOW_SECONDS.
FRAME_BURST = 20
FRAME_WINDOW_SECONDS = 10.0
MAX_ID = 2**63 - 1  # the largest primary key a database column holds
_clock = time.monotonic  # tests replace it to refill the bucket


class FrameBucket:
    """A token bucket: `take` is False once a socket has sent more than it may."""

    def __init__(self, burst: int = FRAME_BURST, window: float = FRAME_WINDOW_SECONDS) -> None:
        self.burst, self.rate = burst, burst / window
        self.tokens, self.updated = float(burst), _clock()
        self.warned = False  # one error frame per run of dropped frames

    def take(self) -> bool:
        now = _clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        self.warned = False
        return True


def _message_id(value: Any) -> int | None:
    """A message id from a frame, or None for anything no row can have (Infinity, 1e400,
    40 digits, a list)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    return None


def _load_conversation(user: User, conversation_id: Any) -> tuple[Conversation, bool]:
    conversation, membership = get_for_user(user, Conversation, conversation_id)
    return conversation, conversation.may_write(user, membership)


def _reload_access(
    session_key: str | None, user_id: int, conversation_id: Any
) -> tuple[Conversation, bool]:
    """Access as it is now; SessionEnded or Http404 when the socket must close."""
    return _load_conversation(check_session(session_key, user_id), conversation_id)


def _thread_if_session(
    session_key: str | None, user_id: int, conversation: Conversation, can_write: bool
) -> str:
    check_session(session_key, user_id)
    return services.load_thread_html(conversation=conversation, can_write=can_write)


def _language(scope: dict[str, Any]) -> str:
    """The page's language for this socket: the language cookie, else Accept-Language."""
    code = scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME)
    if code and translation.check_for_language(code):
        return code
    accept = dict(scope.get("headers", [])).get(b"accept-language", b"").decode("latin-1")
    for code, _quality in parse_accept_lang_header(accept):
        with contextlib.suppress(LookupError):
            return translation.get_supported_language_variant(code)
    return settings.LANGUAGE_CODE


class ChatConsumer(AsyncWebsocketConsumer):
    conversation: Conversation
    can_write: bool = False
    group_name: str = ""
    subscriber: Subscriber | None = None
    language: str | None = None
    session_key: str = ""
    frames: FrameBucket

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Frames are rendered here, outside any request: use the language of the page.
        if self.language is None:
            self.language = _language(self.scope)
        with translation.override(self.language):
            await super().dispatch(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        try:
            self.conversation, self.can_write = await database_sync_to_async(_load_conversation)(
                user, conversation_id
            )
        except Http404:
            await self.close()  # outsiders and private conversations look the same
            return
        # Checked again on access.changed and before each reply; "" (no session) never passes.
        self.session_key = self.scope["session"].session_key or ""
        self.frames = FrameBucket()
        self.group_name = self.conversation.group_name
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        await self.accept()
        generation = registry.for_conversation(self.conversation.pk)
        if generation is not None:
            self._follow(generation, snapshot=True)
        elif self.can_write:
            # A tab that reconnects may have missed the end of a reply.
            await self.send(text_data=controls_html(streaming=False))

    async def disconnect(self, code: int) -> None:
        self._unfollow()  # the reply goes on without this tab
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
            user = self.scope["user"]
            await self.channel_layer.group_discard(user_group(user.pk), self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.frames.take():  # dropped unread; the first one of a run is answered
            if not self.frames.warned:
                self.frames.warned = True
                await self._send_error(_("Too many actions at once. Wait a few seconds."))
            return
        try:
            data = json.loads(text_data or "")
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python goes
            return
        if not isinstance(data, dict) or data.get("action") not in ACTIONS:
            return
        await getattr(self, f"on_{data['action']}")(data)

    # Actions from the browser

    async def on_sync(self, data: dict[str, Any]) -> None:
        """Resend the thread as stored: the tab may have missed the end of a reply."""
        generation = registry.for_conversation(self.conversation.pk)
        if generation is not None:
            self._follow(generation, snapshot=True)  # still running here: text so far + tail
            return
        try:
            thread = await database_sync_to_async(_thread_if_session)(
                self.session_key, self.scope["user"].pk, self.conversation, self.can_write
            )
        except SessionEnded:
            await self._end()
            return
        await self.send(text_data=thread + controls_html(streaming=False, can_write=self.can_write))

    async def on_send(self, data: dict[str, Any]) -> None:
        await self._start_reply(services.SEND, text=data.get("text"))

    async def on_edit(self, data: dict[str, Any]) -> None:
        await self._start_reply(
            services.EDIT, text=data.get("text"), message_id=data.get("message_id")
        )

    async def on_regenerate(self, data: dict[str, Any]) -> None:
        await self._start_reply(services.REGENERATE, message_id=data.get("message_id"))

    async def on_retry(self, data: dict[str, Any]) -> None:
        await self._start_reply(services.RETRY, message_id=data.get("message_id"))

    async def on_stop(self, data: dict[str, Any]) -> None:
        if not self.can_write:  # checked at connect, kept current by access_changed
            await self._send_error(_("You can read this conversation but not change it."))
            return
        generation = registry.for_conversation(self.conversation.pk)
        if generation is not None:
            generation.stop()
        else:  # the reply may be written by another process (scale mode)
            await self.channel_layer.group_send(self.group_name, {"type": "reply.stop"})

    async def _start_reply(self, action: str, **kwargs: Any) -> None:
        # Refusals that need no database come first, before anything is reserved: a reader
        # flooding the socket must not make the writer's sends look busy.
        if not self.can_write:  # checked at connect, kept current by access_changed
            await self._send_error(_("You can read this conversation but not write in it."))
            return
        if action != services.SEND:
            kwargs["message_id"] = _message_id(kwargs.get("message_id"))
            if kwargs["message_id"] is None:
                await self._send_error(_("That message is no longer there."))
                return
        conversation_id = self.conversation.pk
        if not registry.reserve(conversation_id):
            await self._send_error(_("A reply is still being written. Wait for it or press Stop."))
            return
        start = None
        try:
            start = await self._begin(action, **kwargs)
        finally:
            if start is None:
                registry.release(conversation_id)
        if start is None:
            return
        # The generation starts reading upstream while the first frame is rendered and sent;
        # until that frame (which creates the reply's element) has gone, the tab is held.
        self._unfollow()
        self.subscriber = subscriber = Subscriber(send=self._send_frame, can_write=True, held=True)
        generation = registry.start(start, layer=self.channel_layer, subscriber=subscriber)
        try:
            with contextlib.suppress(Exception):  # a closed tab must not stop the reply
                await self.send(text_data=self._first_frame(action, start))
        finally:
            generation.release(subscriber)
        event = {"type": "reply.started", "message_id": start.assistant_id}
        await self.channel_layer.group_send(self.group_name, event)

    async def _begin(self, action: str, **kwargs: Any) -> ReplyStart | None:
        """Run services.begin_reply; on refusal tell the user and return None."""
        try:
            return await database_sync_to_async(services.begin_reply)(
                conversation_id=self.conversation.pk,
                user=self.scope["user"],
                action=action,
                session_key=self.session_key,
                **kwargs,
            )
        except SessionEnded:
            await self._end()
        except PermissionDenied:
            await self._send_error(_("You can read this conversation but not write in it."))
        except Http404:
            await self._send_error(_("That message is no longer there."))
        except ValidationError as exc:
            error = " ".join(exc.messages)
            if action == services.SEND:
                await self.send(text_data=composer_html(text=kwargs.get("text"), error=error))
            else:
                await self._send_error(error)
        return None

    def _first_frame(self, action: str, start: ReplyStart) -> str:
        parts = [start.thread_html]
        if action == services.SEND:
            parts.append(composer_html(streaming=True))
        else:
            parts.append(error_html("") + controls_html(streaming=True))
        if start.new_title:
            parts.append(title_html(start.conversation, start.new_title))
        return "".join(parts)

    # Following a reply written in this process

    def _follow(self, generation: Generation, *, snapshot: bool) -> None:
        self._unfollow()
        self.subscriber = Subscriber(send=self._send_frame, can_write=self.can_write)
        generation.subscribe(self.subscriber, snapshot=snapshot)

    def _unfollow(self) -> None:
        if self.subscriber is None or self.subscriber.message_id is None:
            return
        generation = registry.get(self.subscriber.message_id)
        if generation is not None:
            generation.unsubscribe(self.subscriber)

    def _follows(self, message_id: int) -> bool:
        return self.subscriber is not None and self.subscriber.message_id == message_id

    async def _end(self) -> None:
        """Close for good: access or the session is gone (a reply goes on without this tab)."""
        self._unfollow()
        await self.close()

    async def _send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def _send_error(self, error: str) -> None:
        await self.send(text_data=error_html(error) + live_region_frame(error))

    # Events from the conversation's group

    async def reply_started(self, event: dict[str, Any]) -> None:
        message_id = event["message_id"]
        if self._follows(message_id):
            return
        thread = await database_sync_to_async(services.load_thread_html)(
            conversation=self.conversation, can_write=self.can_write
        )
        generation = registry.get(message_id)
        if generation is None:
            await self.send(
                text_data=thread + controls_html(streaming=True, can_write=self.can_write)
            )
            return
        await self.send(text_data=thread)
        self._follow(generation, snapshot=True)

    async def reply_finished(self, event: dict[str, Any]) -> None:
        message_id = event["message_id"]
        if self._follows(message_id):
            return  # the generation sent this tab its final frames itself
        item = await database_sync_to_async(services.load_message_item)(
            conversation_id=self.conversation.pk, message_id=message_id
        )
        if item is not None:
            await self.send(
                text_data=final_frame(self.conversation, item, can_write=self.can_write)
            )

    async def reply_snapshot(self, event: dict[str, Any]) -> None:
        message_id = event["message_id"]
        if self._follows(message_id) or registry.get(message_id) is not None:
            return
        message = Message(
            pk=message_id,
            conversation_id=self.conversation.pk,
            role=Message.Role.ASSISTANT,
            status=Message.Status.STREAMING,
            content=event["content"],
        )
        item = ThreadItem(message, list(event.get("sibling_ids") or [message_id]))
        await self.send(
            text_data=services.render_message(
                self.conversation, item, can_write=self.can_write, oob=True
            )
        )

    async def access_changed(self, event: dict[str, Any]) -> None:
        """Sharing, membership or role changed, the conversation is gone, or the session
        ended (logout, password change, deactivation): reload access and close the tab if
        it may no longer see the conversation."""
        try:
            self.conversation, self.can_write = await database_sync_to_async(_reload_access)(
                self.session_key, self.scope["user"].pk, self.conversation.pk
            )
        except (SessionEnded, Http404):
            await self._end()
            return
        if self.subscriber is not None:  # frames of a reply it follows use the new rights
            self.subscriber.can_write = self.can_write

    async def reply_stop(self, event: dict[str, Any]) -> None:
        generation = registry.for_conversation(self.conversation.pk)
        if generation is not None:
            generation.stop()


def composer_html(*, text: str | None = None, error: str = "", streaming: bool = False) -> str:
    if not text and not error:  # the same for every reply: rendered once per language
        return _empty_composer_html(
            translation.get_language(), streaming, settings.MESSAGE_MAX_CHARS
        )
    return _composer_html(text=text, error=error, streaming=streaming)


@functools.lru_cache(maxsize=64)
def _empty_composer_html(language: str | None, streaming: bool, max_chars: int) -> str:
    return _composer_html(text=None, error="", streaming=streaming)


def _composer_html(*, text: str | None, error: str, streaming: bool) -> str:
    context = {
        "composer_oob": True,
        "composer_text": text if isinstance(text, str) else "",
        "composer_error": error,
        "streaming": streaming,
        "MESSAGE_MAX_CHARS": settings.MESSAGE_MAX_CHARS,
    }
    return render_to_string("chat/messages.html#composer", context)


def error_html(error: str) -> str:
    if not error:
        return _no_error_html(translation.get_language())
    return _error_html(error)


@functools.lru_cache(maxsize=64)
def _no_error_html(language: str | None) -> str:
    return _error_html("")


def _error_html(error: str) -> str:
    return render_to_string(
        "chat/messages.html#composer-error", {"composer_error": error, "error_oob": True}
    )


def title_html(conversation: Conversation, title: str) -> str:
    title = html.escape(title)
    return (
        f'<span id="conversation-title" hx-swap-oob="innerHTML">{title}</span>'
        f'<span id="sidebar-title-{conversation.pk.hex}" hx-swap-oob="innerHTML">{title}</span>'
    )
