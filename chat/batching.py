"""Database calls that arrive together run together: one thread hop and one transaction for
every call waiting, instead of one each (a "group commit").

In a burst of sends, every reply's start waits for the database thread (chat.db.reply_db);
while it works on one, the others queue. A Batcher takes all that queued as one batch: the
batch function runs them in one transaction and may read what they share once (one query
for every start's user, conversation and messages) and write their rows in bulk. Each call
keeps its own outcome: a refusal is that call's exception and never fails its neighbours.
A batch whose transaction fails as a whole (the database refused the commit) is run again
call by call, each in its own transaction, so one bad call cannot take the others with it.

Nothing waits to fill a batch: a call that finds the thread free runs at once, alone, so a
lone send costs what it did; batches form only behind work already running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from chat.db import concurrent, reply_db

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Calls per batch at most: a batch is one transaction, held while it runs.
MAX_BATCH = 200
# Batches in flight at once per process where the database takes concurrent writers (their
# round trips overlap, chat.db); one where it does not (SQLite: one writer at a time anyway).
CONCURRENT_LANES = 4


@dataclass
class Batcher(Generic[T, R]):
    """`await batcher(item)` runs `run([item, ...])` on the reply database thread with every
    item queued meanwhile; `run` returns one outcome per item, in order (an exception is
    raised to that item's caller only). `run` must do its batch in one transaction, so that
    a failure of the whole can be retried item by item."""

    run: Callable[[list[T]], list[R | Exception]]
    max_batch: int = MAX_BATCH
    max_lanes: int = 0  # batches at once; 0: as the database allows (CONCURRENT_LANES or 1)
    queue: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    lanes: int = 0  # batches running now
    drains: set[asyncio.Task[None]] = field(default_factory=set)  # kept from the collector

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self.queue.append((item, future))
        if self.lanes < (self.max_lanes or (CONCURRENT_LANES if concurrent() else 1)):
            self.lanes += 1
            drain = asyncio.ensure_future(self._drain())
            self.drains.add(drain)
            drain.add_done_callback(self.drains.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue[: self.max_batch], self.queue[self.max_batch :]
                await self._run(batch)
        finally:
            self.lanes -= 1

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        items = [item for item, _future in batch]
        try:
            outcomes = await reply_db(self.run)(items)
        except Exception as exc:  # the whole batch failed: each item alone, in its own transaction
            if len(items) == 1:
                outcomes = [exc]  # it ran alone already
            else:
                logger.warning("A batch of %d failed; running them one by one", len(items))
                outcomes = [await reply_db(_alone)(self.run, item) for item in items]
        for (_item, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller was cancelled (the socket closed)
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def _alone(run: Callable[[list[T]], list[R | Exception]], item: T) -> R | Exception:
    try:
        return run([item])[0]
    except Exception as exc:
        return exc
