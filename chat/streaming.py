"""Replies being written in this process: one Generation per assistant message in flight.

A Generation is its own asyncio task, not tied to a socket: a reply goes on when its tab
closes. The text lives in memory (a list of chunks and a running length). Subscribers, the
consumers of the tabs showing the conversation, get escaped fragments sent straight down
their sockets: the first token at once, then coalesced every STREAM_FLUSH_MS by one timer.
Per token there are no ORM calls, no thread hops and no channel-layer messages.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from chat import services
from chat.models import Conversation, Message
from chat.services import ReplyStart
from chat.threads import ThreadItem
from gateway import chat as gateway_chat
from gateway.errors import GatewayConnectionLost, GatewayError
from gateway.types import ChatDelta, ChatEnd, Usage

logger = logging.getLogger(__name__)

# A subscriber this far behind stops getting deltas and waits for the final swap.
MAX_PENDING_CHARS = 64 * 1024
# Coarse snapshots for tabs in other processes (scale mode): at most two a second.
SNAPSHOT_SECONDS = 0.5
# How long the end of a reply waits for a stuck socket before giving up on it.
DRAIN_SECONDS = 5.0

Status = Message.Status
_clock = time.monotonic  # tests replace it to check checkpoint and snapshot spacing


@dataclass(eq=False)
class Subscriber:
    """One socket following a generation; `send` delivers one text frame.

    A `held` subscriber gets nothing until `Generation.release`: the tab that asked is held
    while its first frame (which creates the reply's element) is rendered and sent, so the
    upstream request can start first; release then sends it what it is owed.
    """

    send: Callable[[str], Awaitable[None]]
    can_write: bool
    held: bool = False
    message_id: int | None = None
    sent_chunks: int = 0
    sent_chars: int = 0
    sent_reasoning: int = 0  # reasoning chunks delivered; 0 = its box not shown yet
    in_flight: asyncio.Task[None] | None = None
    lagging: bool = False
    released: asyncio.Future[None] | None = None  # set while the end of a reply waits for it

    @property
    def busy(self) -> bool:
        return self.in_flight is not None and not self.in_flight.done()


@dataclass(frozen=True)
class Outcome:
    status: str
    finish_reason: str | None = None
    usage: Usage | None = None
    error: str = ""


class Generation:
    def __init__(self, start: ReplyStart, *, layer: Any) -> None:
        self.start = start
        self.message_id = start.assistant_id
        self.conversation: Conversation = start.conversation
        self.layer = layer
        self.publish_snapshots = layer is not None and not isinstance(layer, InMemoryChannelLayer)
        self.chunks: list[str] = []
        self.length = 0
        self.reasoning: list[str] = []
        self.subscribers: list[Subscriber] = []
        self.task: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[Outcome] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._stop_requested = False
        self._last_checkpoint = self._started = _clock()
        self._checkpoint: asyncio.Task[None] | None = None
        self._last_snapshot = 0.0
        self._flush_seconds = settings.STREAM_FLUSH_MS / 1000
        self._checkpoint_seconds = settings.STREAM_CHECKPOINT_SECONDS

    @property
    def conversation_id(self) -> UUID:
        return self.conversation.pk

    def text(self) -> str:
        return "".join(self.chunks)

    def begin(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"reply-{self.message_id}")

    async def wait(self) -> None:
        if self.task is not None:
            await asyncio.shield(self.task)

    def stop(self) -> None:
        self._stop_requested = True
        if self._reader is not None:
            self._reader.cancel()

    # Subscribers

    def subscribe(self, subscriber: Subscriber, *, snapshot: bool = True) -> None:
        """Follow from now on; with `snapshot`, first get the message as written so far."""
        subscriber.message_id = self.message_id
        subscriber.sent_chunks, subscriber.sent_chars = len(self.chunks), self.length
        subscriber.sent_reasoning = len(self.reasoning) if snapshot else 0
        self.subscribers.append(subscriber)
        if snapshot:
            can_write = subscriber.can_write
            frame = services.render_message(
                self.conversation, self._snapshot_item(), can_write=can_write, oob=True
            )
            self._deliver(subscriber, frame + controls_html(streaming=True, can_write=can_write))

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)
        self._unhold(subscriber)

    def release(self, subscriber: Subscriber) -> None:
        """Let a held subscriber have its deltas, starting with what it is owed."""
        if not subscriber.held:
            return
        self._unhold(subscriber)
        if subscriber in self.subscribers:
            self._flush_to(subscriber, len(self.chunks))

    @staticmethod
    def _unhold(subscriber: Subscriber) -> None:
        subscriber.held = False
        if subscriber.released is not None and not subscriber.released.done():
            subscriber.released.set_result(None)

    def _snapshot_item(self) -> ThreadItem:
        placeholder = self.start.assistant
        message = Message(
            pk=placeholder.pk,
            conversation_id=placeholder.conversation_id,
            parent_id=placeholder.parent_id,
            role=Message.Role.ASSISTANT,
            status=Status.STREAMING,
            model=placeholder.model,
            content=self.text(),
            reasoning="".join(self.reasoning),
        )
        return ThreadItem(message, self.start.assistant_item.sibling_ids)

    # The token path

    def _append(self, delta: ChatDelta) -> None:
        if delta.reasoning:
            if not self.reasoning and self.length == 0:
                # Reasoning models think before they answer: say so instead of looking stuck.
                self._announce(_("Thinking…"))
            self.reasoning.append(delta.reasoning)
            self._schedule_flush()
        if not delta.content:
            return
        first = self.length == 0
        if first and self.reasoning:
            self._announce(_("Writing…"))
        self.chunks.append(delta.content)
        self.length += len(delta.content)
        if first:
            self._flush()
        else:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_seconds, self._flush)

    def _announce(self, status: str) -> None:
        """Change the reply's status line (Thinking… / Writing…) in every tab following it."""
        frame = status_frame(self.message_id, status)
        for sub in tuple(self.subscribers):
            if not sub.held:
                self._deliver(sub, frame)

    def _flush(self) -> None:
        """Send every subscriber what it is owed; checkpoints and snapshots are checked here,
        at most once per flush, not per token."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        count = len(self.chunks)
        for sub in tuple(self.subscribers):  # a failed send unsubscribes at once
            owed = sub.sent_chunks != count or sub.sent_reasoning != len(self.reasoning)
            if sub.lagging or sub.held or not owed:
                continue
            if sub.busy:
                # Daphne does not push back: bound what a slow socket can owe instead.
                sub.lagging = self.length - sub.sent_chars > MAX_PENDING_CHARS
                continue
            self._flush_to(sub, count)
        now = _clock()
        if now - self._last_checkpoint >= self._checkpoint_seconds:
            self._start_checkpoint()
        if self.publish_snapshots:
            self._maybe_snapshot(now)

    def _flush_to(self, sub: Subscriber, count: int) -> None:
        frames = self._reasoning_frame(sub)
        if sub.sent_chunks != count:
            text = "".join(self.chunks[sub.sent_chunks : count])
            sub.sent_chunks, sub.sent_chars = count, self.length
            frames += delta_frame(self.message_id, text)
        if frames:
            self._deliver(sub, frames)

    def _reasoning_frame(self, sub: Subscriber) -> str:
        """Reasoning streams into its own box: shown with all so far, then appended to."""
        count = len(self.reasoning)
        if sub.sent_reasoning == count:
            return ""
        shown, sub.sent_reasoning = sub.sent_reasoning, count
        if shown == 0:
            return reasoning_box_frame(self.message_id, "".join(self.reasoning))
        text = "".join(self.reasoning[shown:count])
        return delta_frame(self.message_id, text, target="reasoning")

    def _deliver(self, sub: Subscriber, frame: str) -> None:
        """Run the send at once; only a send that has to wait gets a task to finish it.

        Daphne's send never waits, so per frame this is a few coroutine steps, not a task."""
        coro = self._send(sub, frame)
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            sub.in_flight = None
            return
        except BaseException:  # _send handles errors itself: this is a cancellation
            coro.close()
            raise
        sub.in_flight = self._spawn(_finish(coro, waiting_on))

    async def _send(self, sub: Subscriber, frame: str) -> None:
        try:
            await sub.send(frame)
        except Exception:  # a closed socket must not end the reply
            logger.debug("Dropping a subscriber of reply %s", self.message_id, exc_info=True)
            self.unsubscribe(sub)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _start_checkpoint(self) -> None:
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._last_checkpoint = _clock()
        self._checkpoint = self._spawn(
            database_sync_to_async(services.checkpoint_reply)(
                message_id=self.message_id, content=self.text()
            )
        )

    def _maybe_snapshot(self, now: float) -> None:
        if now - self._last_snapshot < SNAPSHOT_SECONDS:
            return
        self._last_snapshot = now
        event = {
            "type": "reply.snapshot",
            "message_id": self.message_id,
            "content": self.text(),
            "sibling_ids": self.start.assistant_item.sibling_ids,
        }
        self._spawn(self.layer.group_send(self.conversation.group_name, event))

    # Reading upstream and finishing

    async def _run(self) -> None:
        try:
            outcome = await self._read_upstream()
            await self._drain()
            item = await self._store(outcome)
            registry.remove(self)
            self._log(outcome)
            await self._send_final(item)
            await self._announce_finished()
        finally:
            registry.remove(self)

    def _log(self, outcome: Outcome) -> None:
        """One line per reply for operators: what ran, how it ended, what it cost."""
        usage = outcome.usage
        logger.info(
            "reply %s conversation=%s model=%s status=%s finish=%s chars=%d tokens=%s/%s "
            "seconds=%.1f%s",
            self.message_id,
            self.conversation_id,
            self.start.model,
            outcome.status,
            outcome.finish_reason or "-",
            self.length,
            usage.prompt_tokens if usage else "-",
            usage.completion_tokens if usage else "-",
            _clock() - self._started,
            f" error={outcome.error!r}" if outcome.error else "",
        )

    async def _read_upstream(self) -> Outcome:
        self._reader = asyncio.create_task(self._read())
        if self._stop_requested:
            self._reader.cancel()
        try:
            await asyncio.wait({self._reader})
        except asyncio.CancelledError:
            self._reader.cancel()
            raise
        if self._reader.cancelled():
            return Outcome(Status.STOPPED)
        return self._reader.result()

    async def _read(self) -> Outcome:
        start = self.start
        try:
            stream = gateway_chat.stream_chat(
                model=start.model, messages=start.messages, temperature=start.temperature
            )
            async for event in stream:
                if isinstance(event, ChatEnd):
                    status = Status.COMPLETE if event.finish_reason else Status.INTERRUPTED
                    return Outcome(status, event.finish_reason, event.usage)
                self._append(event)
        except GatewayConnectionLost as exc:
            return Outcome(Status.INTERRUPTED, error=exc.user_message)
        except GatewayError as exc:
            return Outcome(Status.FAILED, error=exc.user_message)
        except Exception:
            logger.exception("Reply %s failed", self.message_id)
            return Outcome(Status.FAILED, error=_("Something went wrong while writing the reply."))
        return Outcome(Status.INTERRUPTED)

    async def _drain(self) -> None:
        """Deliver the text still owed to subscribers, so deltas end where the reply ends."""
        if self._timer is not None:
            self._timer.cancel()
        await self._wait_held()
        await self._wait_in_flight()
        self._flush()
        await self._wait_in_flight()

    async def _wait_held(self) -> None:
        """A held subscriber has not had its first frame yet: nothing may reach it before."""
        loop = asyncio.get_running_loop()
        waiters = []
        for sub in self.subscribers:
            if sub.held:
                sub.released = sub.released or loop.create_future()
                waiters.append(sub.released)
        if waiters:
            await asyncio.wait(waiters, timeout=DRAIN_SECONDS)
        for sub in self.subscribers:
            if sub.held:  # never released: it gets the final swap only
                self._unhold(sub)
                sub.lagging = True

    async def _wait_in_flight(self) -> None:
        pending = [sub.in_flight for sub in self.subscribers if sub.in_flight and sub.busy]
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_SECONDS)

    async def _store(self, outcome: Outcome) -> ThreadItem:
        if self._checkpoint is not None:
            await asyncio.wait({self._checkpoint})
        try:
            return await database_sync_to_async(services.finish_reply)(
                message_id=self.message_id,
                content=self.text(),
                reasoning="".join(self.reasoning),
                status=outcome.status,
                finish_reason=outcome.finish_reason,
                usage=outcome.usage,
                error=outcome.error,
            )
        except Exception:
            logger.exception("Could not store reply %s", self.message_id)
            item = self._snapshot_item()
            item.message.status = Status.FAILED
            item.message.error = _("The reply could not be saved.")
            return item

    async def _send_final(self, item: ThreadItem) -> None:
        frames: dict[bool, str] = {}
        for sub in list(self.subscribers):
            if sub.can_write not in frames:
                frames[sub.can_write] = final_frame(
                    self.conversation, item, can_write=sub.can_write
                )
            await self._send(sub, frames[sub.can_write])
        self.subscribers.clear()

    async def _announce_finished(self) -> None:
        if self.layer is None:
            return
        event = {"type": "reply.finished", "message_id": self.message_id}
        try:
            await self.layer.group_send(self.conversation.group_name, event)
        except Exception:
            logger.warning("Could not announce the end of reply %s", self.message_id, exc_info=True)


class Registry:
    """The generations of this process, by message and by conversation (one at a time)."""

    def __init__(self) -> None:
        self.by_message: dict[int, Generation] = {}
        self.by_conversation: dict[UUID, Generation | None] = {}

    def reserve(self, conversation_id: UUID) -> bool:
        """Claim the conversation for a reply about to start; False if one is running."""
        if conversation_id in self.by_conversation:
            return False
        self.by_conversation[conversation_id] = None
        return True

    def release(self, conversation_id: UUID) -> None:
        if self.by_conversation.get(conversation_id, False) is None:
            del self.by_conversation[conversation_id]

    def start(self, start: ReplyStart, *, layer: Any, subscriber: Subscriber | None) -> Generation:
        generation = Generation(start, layer=layer)
        self.by_message[generation.message_id] = generation
        self.by_conversation[generation.conversation_id] = generation
        if subscriber is not None:
            generation.subscribe(subscriber, snapshot=False)
        generation.begin()
        return generation

    def get(self, message_id: int) -> Generation | None:
        return self.by_message.get(message_id)

    def for_conversation(self, conversation_id: UUID) -> Generation | None:
        return self.by_conversation.get(conversation_id)

    def is_busy(self, conversation_id: UUID) -> bool:
        return conversation_id in self.by_conversation

    def remove(self, generation: Generation) -> None:
        if self.by_message.get(generation.message_id) is generation:
            del self.by_message[generation.message_id]
        if self.by_conversation.get(generation.conversation_id) is generation:
            del self.by_conversation[generation.conversation_id]


registry = Registry()


# Frames: HTML with hx-swap-oob elements, swapped by id by the htmx ws extension.


def delta_frame(message_id: int, text: str, *, target: str = "text") -> str:
    return (
        f'<div id="message-{message_id}-{target}" hx-swap-oob="beforeend">{html.escape(text)}</div>'
    )


def reasoning_box_frame(message_id: int, text: str) -> str:
    return render_to_string(
        "chat/messages.html#reasoning-box",
        {"message_id": message_id, "reasoning": text, "reasoning_oob": True},
    )


def status_frame(message_id: int, text: str) -> str:
    return (
        f'<span id="message-{message_id}-status" hx-swap-oob="innerHTML">{html.escape(text)}</span>'
    )


def live_region_frame(text: str) -> str:
    return f'<div id="live-region" hx-swap-oob="innerHTML">{html.escape(text)}</div>'


async def _finish(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Drive a coroutine started by hand, now suspended on `waiting_on`, to its end, as the
    task running it would have: resume it when the future is done, cancel both together."""
    while True:
        try:
            if waiting_on is None:  # a bare yield, as in asyncio.sleep(0)
                await asyncio.sleep(0)
            else:
                waiting_on._asyncio_future_blocking = False
                await asyncio.wait((waiting_on,))
        except BaseException as exc:  # this task was cancelled
            if waiting_on is not None:
                waiting_on.cancel()
            try:
                waiting_on = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                waiting_on = coro.send(None)  # the coroutine takes the future's result itself
            except StopIteration:
                return


def controls_html(*, streaming: bool, can_write: bool = True) -> str:
    """The Send button and the Stop form for a tab that may write; nothing otherwise."""
    if not can_write:
        return ""
    return _controls_html(translation.get_language(), streaming)


@functools.lru_cache(maxsize=64)
def _controls_html(language: str | None, streaming: bool) -> str:
    """Constant per language: rendered once (frames are sent under the page's language)."""
    context = {"streaming": streaming, "controls_oob": True}
    return render_to_string("chat/messages.html#send-button", context) + render_to_string(
        "chat/messages.html#stop-form", context
    )


def final_frame(conversation: Conversation, item: ThreadItem, *, can_write: bool) -> str:
    """The finished message, the announcement and idle controls, for any tab."""
    return (
        services.render_message(conversation, item, can_write=can_write, oob=True)
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
