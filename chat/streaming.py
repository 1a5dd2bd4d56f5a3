"""Replies being written in this process: one Generation per assistant message in flight.

A Generation is its own asyncio task, not tied to a socket: a reply goes on when its tab
closes. The text lives in memory (a list of chunks and a running length). Subscribers, the
consumers of the tabs showing the conversation, get escaped fragments sent straight down
their sockets: the first token at once, then coalesced every STREAM_FLUSH_MS by one timer.
Per token there are no ORM calls, no thread hops and no channel-layer messages.

The markdown blocks that are complete are rendered while the reply streams (chat.live_render,
fed once per flush, each block rendered once): a flush sends the newly complete blocks, appended
to the message's #message-<pk>-blocks, and the open tail, appended to when it only grew,
drawn anew when blocks closed or it took a block's shape: plain text, or an open fence inside
its code box, or an open table row by row. Snapshots carry the same rendered prefix.

Each subscriber is in one State (see there); the only other things it keeps are counters of
what it has been sent, so catching up sends exactly what it is owed, nothing lost or repeated.
Frames are built by chat.frames; database work is chat.services, one call per thread hop.
"""

from __future__ import annotations

import asyncio
import enum
import html
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from channels.layers import InMemoryChannelLayer
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _

from chat import events, frames, reply_files, services, titles, vision
from chat.batching import Batcher
from chat.db import reply_db
from chat.live_render import LiveRenderer
from chat.models import Conversation, Message
from chat.services import ReplyStart
from chat.threads import ThreadItem
from gateway import chat as gateway_chat
from gateway import completions as gateway_completions
from gateway.errors import GatewayConnectionLost, GatewayError
from gateway.types import ChatDelta, ChatEnd, Usage

logger = logging.getLogger(__name__)

# A subscriber this far behind stops getting deltas and waits for the final swap.
MAX_PENDING_CHARS = 64 * 1024
# Coarse snapshots for tabs in other processes (scale mode): at most two a second.
SNAPSHOT_SECONDS = 0.5
# How long the end of a reply waits for a stuck socket before giving up on it.
DRAIN_SECONDS = 5.0
# A final save the database refused (down, restarting, failing over) is tried again, first
# after SAVE_RETRY_FIRST seconds, doubling up to SAVE_RETRY_MAX, for SAVE_RETRY_FOR seconds;
# the text waits in memory, the tabs have had it, and the process keeps beating meanwhile
# (chat.liveness), so no other process ends the reply with its last checkpoint.
SAVE_RETRY_FIRST = 0.5
SAVE_RETRY_MAX = 5.0
SAVE_RETRY_FOR = 3600.0

Status = Message.Status
_clock = time.monotonic  # tests replace it to check checkpoint and snapshot spacing


class State(enum.Enum):
    """Where one subscriber is. Every transition is a method of Generation:

    HELD ──release──▶ LIVE ──too far behind──▶ LAGGING ──final swap──▶ DONE
      └──never released by the end (DRAIN_SECONDS)──▶ LAGGING;   unsubscribe: any ──▶ DONE
    """

    HELD = "held"  # the tab that asked: its first frame (creating the reply) is being sent
    LIVE = "live"  # gets deltas at every flush
    LAGGING = "lagging"  # fell MAX_PENDING_CHARS behind: gets the final swap only
    DONE = "done"  # unsubscribed, or sent the final swap


@dataclass(eq=False)
class Subscriber:
    """One socket following a generation; `send` delivers one text frame."""

    send: Callable[[str], Awaitable[None]]
    can_write: bool
    state: State = State.LIVE
    message_id: int | None = None
    sent_chunks: int = 0
    sent_chars: int = 0
    sent_reasoning: int = 0  # reasoning chunks delivered; 0 = its box not shown yet
    sent_blocks: int = 0  # rendered blocks delivered
    view: tuple[int, str] = (0, "text")  # the open tail as last drawn (LiveRenderer.view_key)
    view_sent: int = 0  # of the open code box's text, or of the open table's rows
    sending: asyncio.Task[None] | None = None  # the latest send; frames go out in order
    released: asyncio.Future[None] | None = None  # set while the end of a reply waits for it

    @property
    def busy(self) -> bool:
        return self.sending is not None and not self.sending.done()


@dataclass(frozen=True)
class Outcome:
    status: Message.Status
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
        # A completion (chat.completions) is plain text: streamed and stored unrendered.
        self.plain = start.completion is not None
        self.live = LiveRenderer()
        self._live_chunks = 0  # chunks fed to `live`
        self.subscribers: list[Subscriber] = []
        self.task: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[Outcome] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._stop_requested = False
        self._last_checkpoint = self._started = _clock()
        self._first_content_at: float | None = None  # for the reply's time to first token
        self._checkpoint: asyncio.Task[None] | None = None
        self._last_snapshot = 0.0
        # Snapshots wait for the reply.started event (see `announced`).
        self._announced = False
        self._flush_seconds = settings.STREAM_FLUSH_MS / 1000
        self._checkpoint_seconds = settings.STREAM_CHECKPOINT_SECONDS
        # Replies of models that make files: their links are copied (chat.reply_files), and
        # a Suno chat model's progress ticks become one progress line.
        self.files = reply_files.ReplyFiles.for_reply(
            model=start.model, conversation_id=self.conversation.pk, message_id=self.message_id
        )
        self._ticks = reply_files.TickFilter() if self.files and self.files.suno else None
        self._last_progress = 0.0
        self._status: str | None = None  # the status line last announced
        self._stop_channel: asyncio.Task[str | None] | None = None  # see StopChannel

    @property
    def conversation_id(self) -> UUID:
        return self.conversation.pk

    def text(self) -> str:
        return "".join(self.chunks)

    def begin(self) -> None:
        # The reader first: it sends the request upstream at the loop's next turn (the
        # consumer yields for it before drawing the first frame).
        self._reader = asyncio.create_task(self._read(), name=f"read-{self.message_id}")
        self.task = asyncio.create_task(self._run(), name=f"reply-{self.message_id}")
        if self.layer is not None:  # beside the upstream request, never before it
            self._stop_channel = stop_channel.join(self.layer, self.conversation_id)

    def stop(self) -> None:
        """Stop reading upstream (cancelling the read closes the request) and store the reply
        as stopped with the text so far."""
        self._stop_requested = True
        if self._reader is not None:
            self._reader.cancel()

    # Subscribers

    def subscribe(self, subscriber: Subscriber, *, snapshot: bool = True) -> None:
        """Follow from now on; with `snapshot`, first get the message as written so far."""
        subscriber.message_id = self.message_id
        self._render_live()
        subscriber.sent_chunks, subscriber.sent_chars = len(self.chunks), self.length
        subscriber.sent_reasoning = len(self.reasoning) if snapshot else 0
        subscriber.sent_blocks = len(self.live.blocks) if snapshot else 0
        if snapshot:
            subscriber.view, subscriber.view_sent = self.live.view_key(), self.live.view_size()
        self.subscribers.append(subscriber)
        if snapshot:
            item = self._snapshot_item()
            frame = frames.streaming_frame(
                self.conversation, item, can_write=subscriber.can_write, live=self._live_parts()
            )
            self._deliver(subscriber, frame)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.remove(subscriber)
        self._set_state(subscriber, State.DONE)

    def release(self, subscriber: Subscriber) -> None:
        """HELD → LIVE: the tab's first frame has gone; send it what it is owed."""
        if subscriber.state is not State.HELD:
            return
        self._set_state(subscriber, State.LIVE)
        if self._status is not None:  # announced while the tab was held
            self._deliver(subscriber, frames.status_frame(self.message_id, self._status))
        self._flush_to(subscriber, len(self.chunks))

    @staticmethod
    def _set_state(subscriber: Subscriber, state: State) -> None:
        released = subscriber.released
        if subscriber.state is State.HELD and released is not None and not released.done():
            released.set_result(None)
        subscriber.state = state

    def _render_live(self) -> None:
        """Feed the text not rendered yet to the live renderer: at most once per flush (or
        snapshot), never per token; each complete block is rendered once, on the event loop
        (a block's rendering is bounded: chat.rendering bounds highlighting)."""
        count = len(self.chunks)
        if self._live_chunks != count and not self.plain:
            self.live.feed("".join(self.chunks[self._live_chunks : count]))
            self._live_chunks = count

    def _live_parts(self) -> tuple[str, str]:
        if self.plain:
            return "", html.escape(self.text(), quote=False)
        return self.live.html(), self.live.tail_html(f"message-{self.message_id}")

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
        content = delta.content
        if content and self._ticks is not None:
            content = self._without_ticks(content)
        if not content:
            return
        first = self.length == 0
        if first:
            self._first_content_at = _clock()
        if first and self.reasoning:
            self._announce(_("Writing…"))
        self.chunks.append(content)
        self.length += len(content)
        if first:
            self._flush()
        else:
            self._schedule_flush()

    def _without_ticks(self, content: str) -> str:
        """A Suno chat model's text without its lines of progress ticks; each tick moves the
        status line instead (at most once a second)."""
        assert self._ticks is not None
        before = self._ticks.ticks
        content = self._ticks.feed(content)
        now = _clock()
        if self._ticks.ticks != before and now - self._last_progress >= 1.0:
            self._last_progress = now
            seconds = round(now - self._started)
            self._announce(_("Making the song… %(seconds)d s") % {"seconds": seconds})
        return content

    def _end_ticks(self) -> None:
        """What the tick filter still holds at the end of the text: kept unless ticks."""
        rest = self._ticks.finish() if self._ticks is not None else ""
        if rest:
            self.chunks.append(rest)
            self.length += len(rest)

    def _schedule_flush(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._flush_seconds, self._flush)

    def _announce(self, status: str) -> None:
        """Change the reply's status line (Thinking… / Writing…) in every tab following it."""
        self._status = status
        frame = frames.status_frame(self.message_id, status)
        for sub in tuple(self.subscribers):
            if sub.state is State.LIVE:
                self._deliver(sub, frame)

    def _flush(self) -> None:
        """Send every live subscriber what it is owed; checkpoints and snapshots are checked
        here, at most once per flush, not per token."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        count = len(self.chunks)
        if self.files is not None:  # new links start their copies (in tasks of their own)
            self.files.feed(self.chunks)
        for sub in tuple(self.subscribers):  # a failed send unsubscribes at once
            if sub.state is not State.LIVE:
                continue
            if sub.busy:  # still sending the last frame: it catches up at a later flush
                # Daphne does not push back: bound what a slow socket can owe instead.
                if self.length - sub.sent_chars > MAX_PENDING_CHARS:
                    sub.state = State.LAGGING
                continue
            self._flush_to(sub, count)
        now = _clock()
        if now - self._last_checkpoint >= self._checkpoint_seconds:
            self._start_checkpoint()
        if self.publish_snapshots and self._announced:
            self._maybe_snapshot(now)

    def _flush_to(self, sub: Subscriber, count: int) -> None:
        """Send `sub` the reasoning and text it has not had yet, as one frame: blocks that
        closed since (then the tail replaced), or else the tail's new text appended."""
        self._render_live()
        frame = self._reasoning_frame(sub)
        live, blocks = self.live, self.live.blocks
        view = live.view_key()
        if sub.sent_blocks != len(blocks) or sub.view != view:
            new = "".join(blocks[sub.sent_blocks :])
            sub.sent_blocks, sub.sent_chunks, sub.sent_chars = len(blocks), count, self.length
            sub.view, sub.view_sent = view, live.view_size()
            if new:
                frame += frames.blocks_frame(self.message_id, new)
            frame += frames.tail_frame(
                self.message_id, live.tail_html(f"message-{self.message_id}")
            )
        elif sub.sent_chunks != count:
            frame += self._grown_tail(sub, count, view[1])
        if frame:
            self._deliver(sub, frame)

    def _grown_tail(self, sub: Subscriber, count: int, view: str) -> str:
        """The open tail grew at its end: its new text (plain, or into the open code box), or
        the open table's rows completed since."""
        text = "".join(self.chunks[sub.sent_chunks : count])
        sub.sent_chunks, sub.sent_chars = count, self.length
        if view == "fence":
            code = self.live.open_code()
            text, sub.view_sent = code[sub.view_sent :], len(code)
            return frames.delta_frame(self.message_id, text, target="code") if text else ""
        if view == "table":
            rows, sub.view_sent = self.live.open_rows_html(sub.view_sent)
            return frames.rows_frame(self.message_id, rows) if rows else ""
        return frames.delta_frame(self.message_id, text)

    def _reasoning_frame(self, sub: Subscriber) -> str:
        """Reasoning streams into its own box: shown with all so far, then appended to."""
        count = len(self.reasoning)
        if sub.sent_reasoning == count:
            return ""
        shown, sub.sent_reasoning = sub.sent_reasoning, count
        if shown == 0:
            return frames.reasoning_box_frame(self.message_id, "".join(self.reasoning))
        text = "".join(self.reasoning[shown:count])
        return frames.delta_frame(self.message_id, text, target="reasoning")

    def _deliver(self, sub: Subscriber, frame: str) -> None:
        """Send one frame in a task of its own, after the subscriber's previous one.

        A plain task per frame: sending inline when the socket does not wait measured no gain
        (benchmarks/README.md), and a task cannot hold up the token path."""
        after = sub.sending if sub.busy else None
        sub.sending = self._spawn(self._send(sub, frame, after=after))

    async def _send(
        self, sub: Subscriber, frame: str, *, after: asyncio.Task[None] | None = None
    ) -> None:
        if after is not None:
            await asyncio.wait({after})
        if sub.state is State.DONE:  # unsubscribed (or its socket broke) meanwhile
            return
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
        self._checkpoint = self._spawn(self._save_checkpoint(self.text()))

    async def _save_checkpoint(self, content: str) -> None:
        try:
            rows = await reply_db(services.checkpoint_reply)(
                message_id=self.message_id, content=content
            )
        except Exception:  # the final store tries again; the reply goes on
            logger.warning("Could not checkpoint reply %s", self.message_id, exc_info=True)
            return
        if rows == 0:  # deleted with its conversation, or swept: nobody will read the rest
            logger.info("Reply %s is gone or no longer streaming: stopping it", self.message_id)
            self.stop()

    def announced(self) -> None:
        """The conversation's group has been told that this reply began (reply.started, sent
        by the consumer after the asking tab's first frame). Tabs of other processes draw the
        reply's element from that event; a snapshot sent before it would name an element they
        do not have yet, so none is."""
        self._announced = True

    def _maybe_snapshot(self, now: float) -> None:
        if now - self._last_snapshot < SNAPSHOT_SECONDS:
            return
        self._last_snapshot = now
        event = {
            "type": events.REPLY_SNAPSHOT,
            "message_id": self.message_id,
            "content": self.text(),
            "sibling_ids": self.start.assistant_item.sibling_ids,
            "plain": self.plain,
        }
        self._spawn(self.layer.group_send(self.conversation.group_name, event))

    # Reading upstream and finishing

    async def _run(self) -> None:
        try:
            outcome = await self._read_upstream()
            self._end_ticks()
            await self._drain()
            item = await self._store(outcome)
            registry.remove(self)
            self._log(outcome)
            await self._send_final(item)
            self._after_final(item)
            await self._announce_finished()
        finally:
            registry.remove(self)
            if self.files is not None:
                self.files.cancel()  # only copies still running (a cancelled reply)
            if self._stop_channel is not None:
                stop_channel.leave(self.layer, self.conversation_id, self._stop_channel)

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
        assert self._reader is not None  # made by begin()
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
            if start.completion is not None:  # the composer's Complete mode
                stream = gateway_completions.stream_completion(**start.completion.upstream())
            else:
                messages = start.messages
                if vision.has_images(messages):  # read from storage off the event loop
                    messages = await asyncio.to_thread(vision.resolve_images, messages)
                stream = gateway_chat.stream_chat(
                    model=start.model,
                    messages=messages,
                    temperature=start.temperature,
                    max_tokens=start.max_tokens,
                )
            async for event in stream:
                if isinstance(event, ChatEnd):
                    # Suno's chat models never say why they stopped: their [DONE] is the end.
                    ended = event.finish_reason or self._ticks is not None
                    status = Status.COMPLETE if ended else Status.INTERRUPTED
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
        await self._wait_sending()
        self._flush()
        await self._wait_sending()

    async def _wait_held(self) -> None:
        """A held subscriber has not had its first frame yet: nothing may reach it before."""
        loop = asyncio.get_running_loop()
        waiters = []
        for sub in self.subscribers:
            if sub.state is State.HELD:
                sub.released = sub.released or loop.create_future()
                waiters.append(sub.released)
        if waiters:
            await asyncio.wait(waiters, timeout=DRAIN_SECONDS)
        for sub in self.subscribers:
            if sub.state is State.HELD:  # never released: it gets the final swap only
                self._set_state(sub, State.LAGGING)

    async def _wait_sending(self) -> None:
        pending = [sub.sending for sub in self.subscribers if sub.sending and sub.busy]
        if pending:
            await asyncio.wait(pending, timeout=DRAIN_SECONDS)

    async def _store(self, outcome: Outcome) -> ThreadItem:
        """Store the reply; if that fails, mark it failed so it does not block its
        conversation, and return what the tabs are told."""
        if self._checkpoint is not None:
            await asyncio.wait({self._checkpoint})
        content, reasoning = self.text(), "".join(self.reasoning)
        try:
            copies = await self._copies()
            # Rendering takes time: in a worker thread, not on the one database calls share.
            if copies is not None:
                html = await asyncio.to_thread(reply_files.stored_html, content, reasoning, copies)
            else:
                html = await asyncio.to_thread(
                    frames.stored_html, content, reasoning, plain=self.plain
                )
            return await self._finish(outcome, content=content, reasoning=reasoning, html=html)
        except Message.DoesNotExist:
            logger.info("Reply %s is gone: its conversation was deleted", self.message_id)
        except Exception:
            logger.exception("Could not store reply %s", self.message_id)
        error = _("The reply could not be saved.")
        try:
            await reply_db(services.fail_reply)(message_id=self.message_id, error=error)
        except Exception:
            logger.exception("Could not mark reply %s as failed", self.message_id)
        item = self._snapshot_item()
        item.message.status, item.message.error = Status.FAILED, error
        return item

    async def _finish(
        self, outcome: Outcome, *, content: str, reasoning: str, html: str
    ) -> ThreadItem:
        """The reply's final save (`final_save`: with the ends of other replies waiting for
        the database, services.finish_replies), tried again while the database does not
        answer (one transaction each: a failed one charged nothing; one that committed but
        reported a failure is stored again without a second charge, see finish_replies)."""
        end = services.ReplyEnd(
            message_id=self.message_id,
            content=content,
            reasoning=reasoning,
            html=html,
            status=outcome.status,
            finish_reason=outcome.finish_reason,
            usage=outcome.usage,
            error=outcome.error,
            **self._timings(),
        )
        delay, deadline = SAVE_RETRY_FIRST, _clock() + SAVE_RETRY_FOR
        while True:
            try:
                return await final_save(end)
            except (OperationalError, InterfaceError) as exc:
                if _clock() + delay > deadline:
                    raise
                logger.warning(
                    "Could not store reply %s (%s); trying again in %.1f s",
                    self.message_id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, SAVE_RETRY_MAX)

    async def _copies(self) -> reply_files.Copies | None:
        """The reply's links and their copies, once the copies still running are done (the
        status line says so meanwhile); None for a model whose replies bring no files."""
        if self.files is None:
            return None
        self.files.close(self.chunks)
        if self.files.copying:
            self._announce(_("Copying the files…"))
        copies = await self.files.finish(self.chunks)
        await self._wait_sending()  # the status line changes before the final swap
        return copies

    def _timings(self) -> dict[str, int | None]:
        """Milliseconds from the start of the generation to its first content and to now."""
        now, first = _clock(), self._first_content_at
        return {
            "ttft_ms": round((first - self._started) * 1000) if first is not None else None,
            "duration_ms": round((now - self._started) * 1000),
        }

    def _after_final(self, item: ThreadItem) -> None:
        """Work that follows a stored reply in the background, never delaying its frame: the
        title a model writes after a conversation's first reply (chat.titles)."""
        if self.start.completion is None:
            titles.schedule(
                conversation=self.conversation, reply=item.message, provisional=self.start.new_title
            )

    async def _send_final(self, item: ThreadItem) -> None:
        finals: dict[bool, str] = {}
        for sub in list(self.subscribers):
            if sub.can_write not in finals:
                finals[sub.can_write] = frames.final_frame(
                    self.conversation, item, can_write=sub.can_write
                )
            await self._send(sub, finals[sub.can_write])  # lagging tabs too
            sub.state = State.DONE
        self.subscribers.clear()

    async def _announce_finished(self) -> None:
        if self.layer is None:
            return
        event = {"type": events.REPLY_FINISHED, "message_id": self.message_id}
        try:
            await self.layer.group_send(self.conversation.group_name, event)
        except Exception:
            logger.warning("Could not announce the end of reply %s", self.message_id, exc_info=True)


# Replies' final saves: the ends that queue while the database thread works are stored
# together, in one transaction (a burst of replies ends at about the same time).
final_save: Batcher[services.ReplyEnd, ThreadItem] = Batcher(services.finish_replies)


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

    def remove(self, generation: Generation) -> None:
        if self.by_message.get(generation.message_id) is generation:
            del self.by_message[generation.message_id]
        if self.by_conversation.get(generation.conversation_id) is generation:
            del self.by_conversation[generation.conversation_id]


registry = Registry()


def stop_group(conversation_id: UUID | str) -> str:
    """The group of the process writing a conversation's reply. Stop pressed in a process
    that does not write it is sent there (events.REPLY_STOP), and reaches the writer whether
    or not a tab of that process shows the conversation (the tab that asked may be closed)."""
    return f"chat.stop.{conversation_id}"


class StopChannel:
    """This process's channel for Stop from other processes: one channel and one task reading
    it while replies run here. Each generation adds the channel to its conversation's
    stop_group while it runs (two channel-layer calls per reply, none per token).

    The reading task ends when the last generation leaves, on a message it sends itself, never
    by cancelling a read (channels_redis may turn a cancelled read into a connection error,
    or hold an event loop's closing); the next reply opens a new channel."""

    CLOSE = "chat.stop.close"

    def __init__(self) -> None:
        self._layer: Any = None
        self._opened: asyncio.Task[str] | None = None  # the channel, once made
        self._members = 0  # generations joined to the channel of `_opened`
        self._listener: asyncio.Task[None] | None = None  # reads the channel of `_opened`

    def join(self, layer: Any, conversation_id: UUID) -> asyncio.Task[str | None]:
        """Add the channel to the conversation's stop group, beside the reply's upstream
        request; the task's result is the channel, or None if the layer failed (Stop from
        other processes then waits for the reply's end). Call `leave` with it at the end."""
        loop = asyncio.get_running_loop()
        opened = self._opened
        if opened is None or self._stale(opened, layer, loop):
            self._layer, self._members = layer, 0
            self._opened = opened = loop.create_task(self._open(layer))
        self._members += 1
        return loop.create_task(self._join(layer, conversation_id, opened))

    def _stale(
        self, opened: asyncio.Task[str], layer: Any, loop: asyncio.AbstractEventLoop
    ) -> bool:
        """Whether to open the channel again: another layer or event loop (tests), or the
        last one failed to open or is no longer read."""
        if self._layer is not layer or opened.get_loop() is not loop:
            return True
        if not opened.done():
            return False
        if opened.cancelled() or opened.exception() is not None:
            return True
        return self._listener is None or self._listener.done()

    async def _join(
        self, layer: Any, conversation_id: UUID, opened: asyncio.Task[str]
    ) -> str | None:
        try:
            channel = await asyncio.shield(opened)
            await layer.group_add(stop_group(conversation_id), channel)
        except Exception:
            logger.warning("Stop from other processes will not reach this reply", exc_info=True)
            return None
        return channel

    def leave(self, layer: Any, conversation_id: UUID, joined: asyncio.Task[str | None]) -> None:
        opened = self._opened

        async def discard() -> None:
            channel = await joined
            if channel is not None:
                await layer.group_discard(stop_group(conversation_id), channel)

        async def discard_then_close() -> None:
            try:
                await discard()
            finally:
                if opened is not None and opened is self._opened:
                    self._members -= 1
                    if self._members <= 0:
                        self._opened = None
                        if opened.done() and not opened.cancelled() and not opened.exception():
                            await layer.send(opened.result(), {"type": self.CLOSE})

        task = asyncio.ensure_future(discard_then_close())
        _leaving.add(task)
        task.add_done_callback(_leaving.discard)
        task.add_done_callback(_log_failure)

    async def _open(self, layer: Any) -> str:
        channel: str = await layer.new_channel()
        self._listener = listener = asyncio.create_task(
            self._listen(layer, channel), name="reply-stops"
        )
        _leaving.add(listener)
        listener.add_done_callback(_leaving.discard)
        return channel

    async def _listen(self, layer: Any, channel: str) -> None:
        failures = 0
        while True:
            try:
                event = await layer.receive(channel)
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # a cancelled read, reported so
                    raise
                failures += 1
                if failures > 60:  # about a minute: the next reply opens a channel again
                    logger.exception("Stop from other processes is not read any more")
                    return
                logger.warning("Could not read Stop from other processes", exc_info=True)
                await asyncio.sleep(1)
                continue
            failures = 0
            kind = event.get("type")
            if kind == self.CLOSE:
                return
            if kind != events.REPLY_STOP:
                continue
            try:
                conversation_id = UUID(str(event.get("conversation_id")))
            except ValueError:
                continue
            generation = registry.for_conversation(conversation_id)
            if generation is not None:
                logger.info("Reply %s stopped from another process", generation.message_id)
                generation.stop()


_leaving: set[asyncio.Task[None]] = set()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("Could not leave a stop group", exc_info=task.exception())


stop_channel = StopChannel()


async def wait_for_leaving(timeout: float = 5.0) -> None:
    """Wait (at most `timeout`) for the replies' leaving of their stop groups: for a test,
    whose event loop ends with it."""
    loop = asyncio.get_running_loop()
    pending = [task for task in _leaving if not task.done() and task.get_loop() is loop]
    if pending:
        await asyncio.wait(pending, timeout=timeout)
