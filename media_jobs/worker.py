"""Scale mode's poller: `manage.py runworker media-jobs` (config.asgi.WORKER_CHANNELS).

`manage.py runworker` (config/management/commands/runworker.py) creates this consumer at
start with a `worker.started` message, which starts media_jobs.poller.run_poller (the same
loop the embedded mode runs) and the embedder, with nobody else's message; the wakes web
processes send (at their start and on each create) then only end the loop's sleep. Several
workers may run: the poller's leases keep them off each other's jobs.
"""

from __future__ import annotations

import asyncio
import logging

from channels.consumer import AsyncConsumer

from chat import embedding_worker
from media_jobs import poller

logger = logging.getLogger(__name__)

_running: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def ensure_poller() -> asyncio.Task[None]:
    loop = asyncio.get_running_loop()
    task = _running.get(loop)
    if task is None or task.done():
        task = _running[loop] = loop.create_task(poller.run_poller(), name="media-poller")
        task.add_done_callback(_report)
    return task


def _report(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("The media poller stopped", exc_info=task.exception())


class MediaJobsWorker(AsyncConsumer):
    async def media_wake(self, message) -> None:
        ensure_poller()
        embedding_worker.ensure_running()  # search by meaning's embedder, beside the poller
        poller.wake_local()

    # `manage.py runworker` (config/management/commands/runworker.py) sends this at start.
    worker_started = media_wake
