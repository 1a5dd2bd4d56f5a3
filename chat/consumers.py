"""The conversation websocket: actions from the composer in, HTML fragments out.

Thin on purpose: database work is in chat.services (one `database_sync_to_async` call per
action), the token path in chat.streaming, every frame in chat.frames, every action and event
name in chat.events (chat's) and accounts.live (generic: access changes, pushed fragments).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import parse_accept_lang_header

from accounts.access import access_version, clean_id, get_for_user, get_membership
from accounts.live import (
    ACCESS_CHANGED,
    CLOSE_ACCESS_LOST,
    CLOSE_SESSION_ENDED,
    team_group,
    user_group,
)
from accounts.models import Membership, User
from chat import (
    attachments,
    budget_help,
    commands,
    completions,
    events,
    feedback,
    frames,
    live_render,
    liveness,
    services,
)
from chat.db import reply_db
from chat.events import ACTIONS
from chat.models import Attachment, Conversation, Message
from chat.services import ReplyStart
from chat.sessions import SessionEnded, check_session
from chat.starts import Checked, StartRequest, start_reply
from chat.streaming import Generation, State, Subscriber, registry, stop_group
from chat.threads import ExtraItem, ThreadItem, load_extra_items
from usage.errors import BudgetRefused

# Frames one socket may send: a burst of FRAME_BURST, refilled over FRAME_WINDOW_SECONDS.
FRAME_BURST = 20
FRAME_WINDOW_SECONDS = 10.0
# Replies a socket remembers having followed (their late group events are not for it).
FOLLOWED_KEPT = 8
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


Access = tuple[Conversation, bool, Checked]  # the conversation, may write, what was checked


def _load_conversation(user: User, conversation_id: Any, session: SessionBase) -> Access:
    """The conversation as `user` may see it, whether they may write in it, and what was
    checked (chat.starts.Checked): the access version is read first, so a change that lands
    during the check bumps it past what the socket keeps."""
    version = access_version(user.pk)
    conversation, membership = get_for_user(user, Conversation, conversation_id)
    checked = Checked(version, membership.role, session.get_expiry_date())
    return conversation, conversation.may_write(user, membership), checked


def _reload_access(session_key: str | None, user_id: int, conversation_id: Any) -> Access:
    """Access as it is now; SessionEnded or Http404 when the socket must close."""
    user = check_session(session_key, user_id)
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return _load_conversation(user, conversation_id, session)


def _thread_if_session(
    session_key: str | None, user_id: int, conversation: Conversation
) -> tuple[list[ThreadItem], list[ExtraItem]]:
    return _load_thread(check_session(session_key, user_id), conversation)


def _load_thread(
    user: User, conversation: Conversation
) -> tuple[list[ThreadItem], list[ExtraItem]]:
    """The thread as stored and the other apps' items in it (chat.threads), for `user`."""
    thread = services.load_thread(conversation=conversation)
    return thread, _extras_with_feedback(user, conversation, thread)


def _extras_with_feedback(
    user: User, conversation: Conversation, thread: list[ThreadItem]
) -> list[ExtraItem]:
    """The other apps' items in a thread about to be sent, after loading the user's own
    ratings onto its replies (chat.feedback)."""
    feedback.attach(user, [item.message for item in thread])
    return load_extra_items(user, conversation, thread)


def _command_membership(session_key: str | None, user_id: int, team_id: int) -> Membership:
    """The asker's membership for a slash command, if their session is still valid."""
    return get_membership(check_session(session_key, user_id), team_id)


def _pending_images(user: User, conversation: Conversation) -> list[Attachment]:
    """The images attached and not sent, for a composer shown again after a refused send."""
    return list(attachments.pending_images(conversation=conversation, user=user))


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
    followed: tuple[int, ...] = ()  # the replies this tab followed, the last few (_follows)
    language: str | None = None
    session_key: str = ""
    checked: Checked | None = None  # kept current by access_changed and every reply start
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
            self.conversation, self.can_write, self.checked = await database_sync_to_async(
                _load_conversation
            )(user, conversation_id, self.scope["session"])
        except Http404:
            await self.close()  # outsiders and private conversations look the same
            return
        # Checked again on access.changed, and at a reply start whose access version moved or
        # whose session reached its expiry (chat.starts); "" (no session) never passes.
        self.session_key = self.scope["session"].session_key or ""
        self.frames = FrameBucket()
        self.group_name = self.conversation.group_name
        await self.channel_layer.group_add(self.group_name, self.channel_name)
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        await self.channel_layer.group_add(team_group(self.conversation.team_id), self.channel_name)
        await self.accept()
        generation = registry.for_conversation(self.conversation.pk)
        if generation is not None:
            self._follow(generation, snapshot=True)
        elif self.can_write:
            # A tab that reconnects may have missed the end of a reply.
            await self.send(text_data=frames.controls_html(streaming=False))

    async def disconnect(self, code: int) -> None:
        self._unfollow()  # the reply goes on without this tab
        if self.group_name:
            await self.channel_layer.group_discard(self.group_name, self.channel_name)
            user = self.scope["user"]
            await self.channel_layer.group_discard(user_group(user.pk), self.channel_name)
            team = team_group(self.conversation.team_id)
            await self.channel_layer.group_discard(team, self.channel_name)

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
            thread, extras = await database_sync_to_async(_thread_if_session)(
                self.session_key, self.scope["user"].pk, self.conversation
            )
        except SessionEnded:
            await self._end(CLOSE_SESSION_ENDED)
            return
        thread_html = frames.thread_frame(
            self.conversation, thread, can_write=self.can_write, extras=extras
        )
        controls = frames.controls_html(streaming=False, can_write=self.can_write)
        await self.send(text_data=thread_html + controls)

    async def on_send(self, data: dict[str, Any]) -> None:
        if data.get("mode") == completions.MODE:  # the prompt as typed: never a command
            options = completions.options_data(data)
            await self._start_reply(events.SEND, text=data.get("text"), completion=options)
            return
        text = commands.with_mode(data.get("mode"), data.get("text"))
        handler = commands.find(text)
        if handler is not None:
            await self._run_command(handler, text)
            return
        # Images attached over HTTP (chat.views_attachments) come as their ids; `vision` is
        # the member's answer when a model that cannot see was offered them.
        await self._start_reply(
            events.SEND,
            text=text,
            attachment_ids=data.get("attachments"),
            vision=data.get("vision"),
        )

    async def _run_command(self, handler: commands.Handler, text: str) -> None:
        """A slash command (chat.commands): the handler's frame goes to this tab."""
        if not self.can_write:
            await self._send_error(_("You can read this conversation but not write in it."))
            return
        user = self.scope["user"]
        try:
            membership = await database_sync_to_async(_command_membership)(
                self.session_key, user.pk, self.conversation.team_id
            )
            frame = await handler(user, membership, self.conversation, text)
        except SessionEnded:
            await self._end(CLOSE_SESSION_ENDED)
            return
        except ValidationError as exc:
            error = " ".join(exc.messages)
            await self.send(text_data=frames.composer_html(text=text, error=error))
            return
        except PermissionDenied:
            await self._send_error(_("You can read this conversation but not write in it."))
            return
        except Http404:
            await self._end()
            return
        await self.send(text_data=frame + frames.composer_html(text=""))

    async def on_edit(self, data: dict[str, Any]) -> None:
        await self._start_reply(
            events.EDIT, text=data.get("text"), message_id=data.get("message_id")
        )

    async def on_regenerate(self, data: dict[str, Any]) -> None:
        # With "model": regenerate with another model (services.regenerate_models).
        await self._start_reply(
            events.REGENERATE, message_id=data.get("message_id"), model=data.get("model")
        )

    async def on_retry(self, data: dict[str, Any]) -> None:
        await self._start_reply(events.RETRY, message_id=data.get("message_id"))

    async def on_stop(self, data: dict[str, Any]) -> None:
        if not self.can_write:  # checked at connect, kept current by access_changed
            await self._send_error(_("You can read this conversation but not change it."))
            return
        generation = registry.for_conversation(self.conversation.pk)
        if generation is not None:
            generation.stop()
            return
        # Written by another process (scale mode): it reads the conversation's stop group
        # whether or not a tab of it is open here; one that died stops nothing, so its reply
        # is ended now rather than at the next sweep (chat.liveness).
        conversation_id = self.conversation.pk
        stop = {"type": events.REPLY_STOP, "conversation_id": str(conversation_id)}
        await self.channel_layer.group_send(stop_group(conversation_id), stop)
        ended = await reply_db(liveness.end_orphan_of)(conversation_id=conversation_id)
        if ended is not None:
            finished = {"type": events.REPLY_FINISHED, "message_id": ended}
            await self.channel_layer.group_send(self.group_name, finished)

    async def on_feedback(self, data: dict[str, Any]) -> None:
        """A thumb or a note (chat.feedback): readers may rate too. Every tab of this user on
        this conversation redraws the thumbs; only this one opens the note form."""
        try:
            change = await database_sync_to_async(feedback.apply)(
                session_key=self.session_key,
                user_id=self.scope["user"].pk,
                conversation_id=self.conversation.pk,
                data=data,
            )
        except SessionEnded:
            await self._end(CLOSE_SESSION_ENDED)
            return
        except Http404:
            await self._send_error(_("That message is no longer there."))
            return
        except ValidationError as exc:
            await self._send_error(" ".join(exc.messages))
            return
        event = {
            "type": events.FEEDBACK_CHANGED,
            "conversation_id": str(self.conversation.pk),
            "message_id": change.message_id,
            "rating": change.rating,
            "note": change.note,
            "ask_note": change.ask_note,
            "origin": self.channel_name,
        }
        await self.channel_layer.group_send(user_group(self.scope["user"].pk), event)
        if "note" in data:
            await self.send(text_data=frames.live_region_frame(_("Note saved. Thank you.")))

    async def _start_reply(self, action: str, **kwargs: Any) -> None:
        # Refusals that need no database come first, before anything is reserved: a reader
        # flooding the socket must not make the writer's sends look busy.
        if not self.can_write:  # checked at connect, kept current by access_changed
            await self._send_error(_("You can read this conversation but not write in it."))
            return
        if action != events.SEND:
            try:  # Infinity, 1e400, 40 digits, a list: no row can have it
                kwargs["message_id"] = clean_id(Message, kwargs.get("message_id"))
            except Http404:
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
        subscriber = Subscriber(send=self._send_frame, can_write=True, state=State.HELD)
        self.subscriber = subscriber
        generation = registry.start(start, layer=self.channel_layer, subscriber=subscriber)
        self._note_followed(start.assistant_id)
        # Let the generation send its request upstream before this first frame is rendered: in
        # a burst, starts taken together resume here together, and the gateway's first token
        # is then on its way while their first frames are drawn.
        await asyncio.sleep(0)
        try:
            with contextlib.suppress(Exception):  # a closed tab must not stop the reply
                extras = None
                if action != events.SEND:  # the whole thread goes, with the other apps' items
                    extras = await database_sync_to_async(_extras_with_feedback)(
                        self.scope["user"], start.conversation, start.thread
                    )
                first = frames.first_frame(
                    action,
                    start.conversation,
                    start.thread,
                    new_title=start.new_title,
                    extras=extras,
                )
                await self.send(text_data=first)
        finally:
            generation.release(subscriber)
        event = {"type": events.REPLY_STARTED, "message_id": start.assistant_id}
        await self.channel_layer.group_send(self.group_name, event)
        generation.announced()  # its snapshots for other processes may follow now
        if self._checked_in_full(start):  # keep what holds now for the next start
            await self.access_changed({"type": ACCESS_CHANGED})

    def _checked_in_full(self, start: ReplyStart) -> bool:
        """Whether the start took the full check (chat.starts): the access version moved, or
        the session the socket knew had reached its expiry (it was extended, or the start
        would have been refused)."""
        checked = self.checked
        return (
            checked is None
            or start.access_version != checked.version
            or checked.session_expires <= timezone.now()
        )

    async def _begin(self, action: str, **kwargs: Any) -> ReplyStart | None:
        """Start the reply (chat.starts: with the starts queued beside it); on refusal tell the
        user and return None."""
        request = StartRequest(
            conversation_id=self.conversation.pk,
            user=self.scope["user"],
            action=action,
            session_key=self.session_key,
            checked=self.checked,
            options=kwargs,
        )
        try:
            return await start_reply(request)
        except SessionEnded:
            await self._end(CLOSE_SESSION_ENDED)
        except PermissionDenied:
            await self._send_error(_("You can read this conversation but not write in it."))
        except Http404:
            await self._send_error(_("That message is no longer there."))
        except services.VisionChoiceNeeded as exc:  # the composer, text and images stay
            choice = frames.vision_choice_html(model=exc.model, suggestion=exc.suggestion)
            await self.send(text_data=choice + frames.error_html(""))
        except ValidationError as exc:
            error = " ".join(exc.messages)
            if isinstance(exc, BudgetRefused) and exc.code == "budget":
                error = await database_sync_to_async(budget_help.refusal_text)(
                    self.conversation.team_id, self.scope["user"]
                )
            if action == events.SEND:
                pending = await database_sync_to_async(_pending_images)(
                    self.scope["user"], self.conversation
                )
                composer = frames.composer_html(
                    text=kwargs.get("text"),
                    error=error,
                    conversation=self.conversation,
                    pending_images=pending,
                )
                await self.send(text_data=composer)
            else:
                await self._send_error(error)
        return None

    # Following a reply written in this process

    def _follow(self, generation: Generation, *, snapshot: bool) -> None:
        self._unfollow()
        self.subscriber = Subscriber(send=self._send_frame, can_write=self.can_write)
        generation.subscribe(self.subscriber, snapshot=snapshot)
        self._note_followed(generation.message_id)

    def _unfollow(self) -> None:
        if self.subscriber is None or self.subscriber.message_id is None:
            return
        generation = registry.get(self.subscriber.message_id)
        if generation is not None:
            generation.unsubscribe(self.subscriber)

    def _note_followed(self, message_id: int) -> None:
        self.followed = (*self.followed[-(FOLLOWED_KEPT - 1) :], message_id)

    def _follows(self, message_id: int) -> bool:
        """The generation sends this tab the frames of the replies it follows itself: the
        group's events for them are not for this tab. That holds for the replies it followed
        before too: the end of one, announced late (a slow channel layer, a busy process),
        arrives after the next has begun, and its final frame would put idle controls over
        the reply now streaming."""
        return message_id in self.followed

    async def _end(self, code: int = CLOSE_ACCESS_LOST) -> None:
        """Close for good: access or the session is gone (a reply goes on without this tab)."""
        self._unfollow()
        await self.close(code=code)

    async def _send_frame(self, frame: str) -> None:
        await self.send(text_data=frame)

    async def _send_error(self, error: str) -> None:
        await self.send(text_data=frames.error_html(error) + frames.live_region_frame(error))

    async def _thread_frame(self) -> str:
        thread, extras = await database_sync_to_async(_load_thread)(
            self.scope["user"], self.conversation
        )
        return frames.thread_frame(
            self.conversation, thread, can_write=self.can_write, extras=extras
        )

    # Events from the conversation's group

    async def reply_started(self, event: dict[str, Any]) -> None:
        message_id = event["message_id"]
        if self._follows(message_id):
            return
        thread = await self._thread_frame()
        generation = registry.get(message_id)
        if generation is None:
            controls = frames.controls_html(streaming=True, can_write=self.can_write)
            await self.send(text_data=thread + controls)
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
            final = frames.final_frame(self.conversation, item, can_write=self.can_write)
            await self.send(text_data=final)

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
        if event.get("plain"):  # a completion: plain text (chat.completions)
            live = ("", event["content"])
        else:
            live = live_render.snapshot_parts(message_id, event["content"])  # once per process
        await self.send(
            text_data=frames.render_message(
                self.conversation, item, can_write=self.can_write, oob=True, live=live
            )
        )

    async def access_changed(self, event: dict[str, Any]) -> None:
        """Sharing, membership or role changed, the conversation is gone, or the session
        ended (logout, password change, deactivation): reload access and close the tab if
        it may no longer see the conversation."""
        try:
            self.conversation, self.can_write, self.checked = await database_sync_to_async(
                _reload_access
            )(self.session_key, self.scope["user"].pk, self.conversation.pk)
        except SessionEnded:
            await self._end(CLOSE_SESSION_ENDED)
            return
        except Http404:
            await self._stop_if_deleted()
            await self._end()
            return
        if self.subscriber is not None:  # frames of a reply it follows use the new rights
            self.subscriber.can_write = self.can_write

    async def _stop_if_deleted(self) -> None:
        """A conversation deleted while its reply streams: stop the reply (and its upstream
        request, which bills). Only when it is gone: a tab that merely lost access leaves the
        creator's reply alone. Checkpoints stop it too when no tab is open (chat.streaming)."""
        generation = registry.for_conversation(self.conversation.pk)
        if generation is None:
            return
        exists = await database_sync_to_async(services.conversation_exists)(
            conversation_id=self.conversation.pk
        )
        if not exists:
            generation.stop()

    async def feedback_changed(self, event: dict[str, Any]) -> None:
        if event["conversation_id"] != str(self.conversation.pk):
            return  # the user's tab on another conversation
        ask_note = event["ask_note"] and event["origin"] == self.channel_name
        await self.send(
            text_data=frames.feedback_frame(
                event["message_id"], event["rating"], event["note"], ask_note=ask_note
            )
        )

    # Generic events (accounts.live)

    async def fragment_push(self, event: dict[str, Any]) -> None:
        """A fragment another app rendered for this conversation, team or user: sent as is
        (the pusher decided every member of the group may see it)."""
        await self.send(text_data=event["html"])
