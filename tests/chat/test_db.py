"""chat.db: where the reply path's database work runs."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from chat.db import reply_db
from tests.sockets import TIMEOUT, assistant_id_in, is_final, receive_until, send_action

pytestmark = pytest.mark.django_db(transaction=True)

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (the scale-mode suite)"
)
sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded mode")


def _thread_name() -> str:
    return threading.current_thread().name


@sqlite_only
async def test_on_sqlite_reply_work_queues_on_the_one_database_thread():
    names = await asyncio.gather(*(reply_db(_thread_name)() for _ in range(4)))
    assert len(set(names)) == 1 and not names[0].startswith("reply-db")


@postgres_only
async def test_on_postgresql_reply_starts_in_a_burst_run_at_the_same_time():
    # Each call waits until all of them have started: on one thread this would never happen.
    barrier = threading.Barrier(4, timeout=10)

    def start() -> str:
        barrier.wait()
        return _thread_name()

    names = await asyncio.gather(*(reply_db(start)() for _ in range(4)))
    assert len(set(names)) == 4 and all(name.startswith("reply-db") for name in names)


def _other_sessions() -> int:
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (count,) = cursor.fetchone()
    return count


@postgres_only
async def test_on_postgresql_a_reply_leaves_no_connection_open(
    alice_socket, conversation, fake_stream
):
    # CONN_MAX_AGE is 0 in the test settings: the connections a reply's start and end open in
    # the pool end with their calls, as a database_sync_to_async call's do. Left open (as
    # they were at first), they pile up past max_connections and keep the test database from
    # being dropped.
    before = await database_sync_to_async(_other_sessions)()
    fake_stream(["Hello", "!"])
    await send_action(alice_socket, "send", text="Hi")
    first = await alice_socket.receive_from(timeout=TIMEOUT)
    await receive_until(alice_socket, is_final(assistant_id_in([first])))
    assert await database_sync_to_async(_other_sessions)() == before
