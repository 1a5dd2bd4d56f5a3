"""How async code (the consumer, a generation) runs chat.services' database work.

`database_sync_to_async` runs every call on one thread per process by default, so in a burst
of sends each reply's start waits for every start before it (benchmarks/README.md). That one
thread is right for SQLite, which takes one writer at a time anyway and whose cost is Python's,
not the disk's. PostgreSQL takes concurrent writers and every query is a round trip spent
waiting: there the reply path's calls run in a small pool of threads, each with its own
connection, so their waits overlap. They were written for that: begin_reply already serialises
what must be serialised (one user's reply starts, one conversation's replies) with row locks,
because scale mode runs several processes against the same database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache, wraps
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.db import close_old_connections, connections

P = ParamSpec("P")
R = TypeVar("R")

# Threads, hence PostgreSQL connections, per process for reply work (beside the one database
# thread). Several daphne processes each have their own: keep them within max_connections.
THREADS = 8


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="reply-db")


def concurrent() -> bool:
    """Whether the database takes concurrent writers (it has row locks): PostgreSQL."""
    return bool(connections["default"].features.has_select_for_update)


def reply_db(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """`func` for async code: in the pool where the database takes concurrent writers, on the
    one database thread otherwise. Connections are closed or kept as for any
    database_sync_to_async call (CONN_MAX_AGE)."""
    if not concurrent():
        return database_sync_to_async(func)

    # database_sync_to_async's own close_old_connections runs outside the copied context the
    # call runs in, and off the database thread it does not see the connection the call
    # opened (tests/chat/test_db.py): the pool's connections would never be closed.
    @wraps(func)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(call, thread_sensitive=False, executor=_pool())
