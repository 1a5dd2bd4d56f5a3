"""`manage.py runworker NAME…`: Channels' worker, made to stand on its own.

Channels' worker creates a channel's consumer only when the first message reaches it and
ends when the channel layer raises. A worker here must do its work without anyone's message
and outlive a Redis restart, so this command (which replaces channels' of the same name:
config comes before channels in INSTALLED_APPS) runs `StartedWorker`:

- at start it hands every channel's consumer a `worker.started` message (STARTED), so the
  media poller and the embedder begin at once (media_jobs.worker);
- a failed receive (Redis down, restarting, unreachable) is logged on one line and retried
  with a back-off (RETRY_SECONDS up to RETRY_MAX_SECONDS) instead of ending the process;
  what the consumers run meanwhile goes on on its own clock.
"""

from __future__ import annotations

import asyncio
import logging

from channels.management.commands.runworker import Command as ChannelsRunworker
from channels.worker import Worker

logger = logging.getLogger(__name__)

STARTED = {"type": "worker.started"}
RETRY_SECONDS = 0.5
RETRY_MAX_SECONDS = 5.0


class StartedWorker(Worker):
    async def handle(self) -> None:
        for channel in self.channels:
            queue = self.get_or_create_application_instance(
                channel, {"type": "channel", "channel": channel}
            )
            queue.put_nowait(dict(STARTED))
        await super().handle()

    async def listener(self, channel: str) -> None:
        delay = RETRY_SECONDS
        while True:
            try:
                message = await self.channel_layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "Receiving on channel %r failed (%s: %s); trying again in %.1f s",
                    channel, type(exc).__name__, exc, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            if delay != RETRY_SECONDS:
                logger.warning("Receiving on channel %r works again", channel)
                delay = RETRY_SECONDS
            if not message.get("type"):
                logger.warning("Dropped a message without a type on channel %r", channel)
                continue
            scope = {"type": "channel", "channel": channel}
            await self.get_or_create_application_instance(channel, scope).put(message)


class Command(ChannelsRunworker):
    help = "Run the background consumers of the named channels (media-jobs), from start."
    worker_class = StartedWorker
