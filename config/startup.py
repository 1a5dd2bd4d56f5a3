"""What one Parlor process starts besides its web server, as three short explicit lists.

daphne does not run the ASGI lifespan protocol, so `manage.py serve` (config/management/
commands/serve.py) runs these itself:

- BEFORE_SERVING: called once in the main thread before daphne listens, in order;
- BACKGROUND: coroutines run as tasks on the server's event loop for the life of the
  process (the media poller will be added here);
- AT_SHUTDOWN: coroutines awaited on that loop when the server stops.

Background consumers (media jobs) run in `manage.py runworker NAME` processes instead, through
the channel names of `config.asgi.WORKER_CHANNELS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from uuid import UUID

from channels.layers import get_channel_layer
from django.conf import settings

from chat import events, liveness
from chat.db import reply_db
from chat.embedding_worker import run_embedded_embedder
from chat.models import Conversation
from chat.services import interrupt_orphaned_replies, live_reply_window
from chat.streaming import registry
from gateway.catalogue import list_chat_models
from gateway.client import aclose_clients
from media_jobs.poller import run_embedded_poller, wake_worker_at_start
from usage.services import sweep_reservations

if TYPE_CHECKING:
    from demo_gateway import DemoGateway

logger = logging.getLogger(__name__)

Say = Callable[[str], object]


class StartupError(Exception):
    """Start-up cannot go on; the message tells the operator what to change."""


def interrupt_orphans_at_start(say: Say) -> None:
    """Embedded mode has one process: whatever is still `streaming` died with the last one.
    In scale mode other processes may be writing; only replies silent past the live window."""
    idle = live_reply_window() if settings.REDIS_URL else None
    if count := interrupt_orphaned_replies(idle_for=idle):
        say(f"Marked {count} unfinished replies from a previous run interrupted.")


def settle_left_reservations(say: Say) -> None:
    """Charges left reserved by a process that died between ending a reply or a job and
    charging it: settled for what was delivered, or refunded (usage.services)."""
    if count := sweep_reservations():
        say(f"Settled or refunded {count} charges left reserved by a previous run.")


def start_demo_gateway(say: Say) -> DemoGateway | None:
    """Without GATEWAY_BASE_URL, serve the demo gateway at the address settings already point
    at (DEMO_GATEWAY_PORT); settings are never changed here. Another Parlor process's demo
    gateway on that port is shared; anything else there stops start-up with a clear error."""
    if not settings.DEMO_GATEWAY:
        return None
    from demo_gateway.server import is_demo_gateway, start_in_thread

    port = settings.DEMO_GATEWAY_PORT
    base_url = settings.GATEWAY_BASE_URL
    try:
        gateway = start_in_thread(
            host="127.0.0.1",
            port=port,
            api_key=settings.GATEWAY_API_KEY,
            token_delay=settings.DEMO_GATEWAY_TOKEN_DELAY,
            without=settings.DEMO_GATEWAY_WITHOUT,
        )
    except ValueError as exc:  # DEMO_GATEWAY_WITHOUT names something that is not a family
        raise StartupError(f"DEMO_GATEWAY_WITHOUT: {exc}") from None
    except OSError as exc:
        if is_demo_gateway(base_url):
            say(f"No GATEWAY_BASE_URL set: sharing the demo gateway already running at {base_url}")
            return None
        raise StartupError(
            f"DEMO_GATEWAY_PORT {port} is in use by another program ({exc.strerror or exc}). "
            "Set DEMO_GATEWAY_PORT to a free port, or GATEWAY_BASE_URL to your gateway."
        ) from None
    without = f" (without {', '.join(sorted(gateway.without))})" if gateway.without else ""
    say(f"No GATEWAY_BASE_URL set: using the built-in demo gateway at {gateway.base_url}{without}")
    return gateway


class ReplySweeper:
    """One process's beat and sweep (chat.liveness), one `tick` every liveness.BEAT_SECONDS.

    After its own beats failed (the database was away), it ends only its own orphans until
    its beats have succeeded again for liveness.STALE_SECONDS: the other processes' beats
    failed too, and they must have had the time to beat again."""

    def __init__(self, layer: Any = None) -> None:
        self.layer = layer
        self.recovered_at: float | None = None  # None: no beat has failed yet

    async def tick(self) -> list[tuple[UUID, int]]:
        now = time.monotonic()
        try:
            await reply_db(liveness.beat)()
        except Exception:
            logger.warning("This process could not beat; trying again", exc_info=True)
            self.recovered_at = now  # restarts the wait once the database answers
            return []
        recovered = self.recovered_at
        others = recovered is None or now - recovered >= liveness.STALE_SECONDS
        ended = await reply_db(liveness.end_orphans)(
            local_ids=list(registry.by_message), others=others
        )
        for conversation_id, message_id in ended:
            logger.info("Reply %s was left by a process that stopped: interrupted", message_id)
            await self._announce(conversation_id, message_id)
        return ended

    async def _announce(self, conversation_id: UUID, message_id: int) -> None:
        """Every tab on the conversation gets the interrupted reply's final frame."""
        if self.layer is None:
            return
        event = {"type": events.REPLY_FINISHED, "message_id": message_id}
        try:
            await self.layer.group_send(Conversation.group_name_for(conversation_id), event)
        except Exception:
            logger.warning("Could not announce the end of reply %s", message_id, exc_info=True)


async def sweep_orphaned_replies() -> None:
    """Scale mode: beat and sweep every liveness.BEAT_SECONDS, so the replies of a process
    that died stop showing as streaming (and blocking their conversation) within
    liveness.STALE_SECONDS + BEAT_SECONDS. A clean stop deletes the process's row."""
    if not settings.REDIS_URL:
        return
    sweeper = ReplySweeper(get_channel_layer())
    try:
        await reply_db(liveness.forget_old)()
    except Exception:
        logger.warning("Could not delete the rows of processes long gone", exc_info=True)
    try:
        while True:
            try:
                await sweeper.tick()
            except Exception:
                logger.exception("The sweep for orphaned replies failed; trying again later")
            await asyncio.sleep(liveness.BEAT_SECONDS)
    finally:
        with contextlib.suppress(Exception):
            await reply_db(liveness.forget)()


async def check_gateway_at_start() -> None:
    """Ask the gateway what it serves (config.gateway_check) as the server starts, on its
    loop: serving never waits for it, and until it answers nothing is hidden."""
    from config import gateway_check

    try:
        await gateway_check.run()
    except Exception:
        logger.exception("Checking what the gateway serves failed; the admin can check again")


def warm_model_catalogue(say: Say) -> None:
    """Start fetching the gateway's model list now (in a background thread, never waiting), so
    the first page already offers the gateway's models instead of only the default one."""
    list_chat_models()


def import_prices_at_start(say: Say) -> None:
    """Until a price has come from the gateway (a fresh install has only the installed "*"
    default), import the gateway's published prices, so models are charged what the gateway
    charges with nothing to set (the demo gateway publishes prices for its models). Never
    stops start-up: a gateway without prices, or down, leaves every model at the "*" default."""
    from usage.models import Price
    from usage.prices import import_from_gateway

    if Price.objects.filter(source=Price.Source.GATEWAY).exists():
        return
    try:
        result = import_from_gateway()
    except Exception as exc:
        logger.warning("Could not import the gateway's prices: %s", exc)
        return
    if result is None:
        say("The gateway publishes no prices: set them in the admin (Usage and budgets).")
    else:
        say(f"Imported {result.created} prices from the gateway.")


BEFORE_SERVING: tuple[Callable[[Say], object], ...] = (
    interrupt_orphans_at_start,
    settle_left_reservations,
    start_demo_gateway,
    import_prices_at_start,
    warm_model_catalogue,
    wake_worker_at_start,
)
BACKGROUND: tuple[Callable[[], Awaitable[None]], ...] = (
    sweep_orphaned_replies,
    run_embedded_poller,
    check_gateway_at_start,
    run_embedded_embedder,
)
AT_SHUTDOWN: tuple[Callable[[], Awaitable[None]], ...] = (aclose_clients,)


def before_serving(say: Say) -> None:
    for step in BEFORE_SERVING:
        step(say)


def start_background(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
    return [loop.create_task(job(), name=job.__name__) for job in BACKGROUND]  # type: ignore[arg-type]


async def shutdown(tasks: list[asyncio.Task[None]]) -> None:
    """Stop the background tasks, then run AT_SHUTDOWN (closing the gateway clients)."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for job in AT_SHUTDOWN:
        try:
            await job()
        except Exception:
            logger.exception("Shutdown step %s failed", job.__name__)
