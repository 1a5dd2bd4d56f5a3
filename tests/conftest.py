import asyncio
import asyncio.runners
import io
import warnings

import pytest
from channels.layers import channel_layers
from django.core.cache import cache
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from django.utils import translation

from chat import rendering

pytest_plugins = [
    "tests.fixtures.personas",
    "tests.fixtures.gateway",
]


# How long the end of a test's event loop waits for its cancelled tasks.
STRAGGLER_SECONDS = 10.0


def _cancel_all_tasks_bounded(loop: asyncio.AbstractEventLoop) -> None:
    """asyncio.Runner's end of a test's event loop, as the standard library's, but waiting at
    most STRAGGLER_SECONDS for the tasks it cancels. On Redis a channels-redis read left
    running by a test sometimes did not end when cancelled, and the teardown sat in the loop's
    select until pytest-timeout failed a test that had passed. The cause, Python 3.11's
    wait_for in redis-py's writes, is mended (config/redis_connection.py); the bound stays so
    that any other task that ignores its cancellation is named, with a warning that shows
    where it waits, instead of hanging the run."""
    to_cancel = asyncio.all_tasks(loop)
    if not to_cancel:
        return
    for task in to_cancel:
        task.cancel()
    _done, pending = loop.run_until_complete(asyncio.wait(to_cancel, timeout=STRAGGLER_SECONDS))
    for task in pending:
        stack = io.StringIO()
        task.print_stack(file=stack)
        warnings.warn(
            f"left a task that ignored its cancellation when the test's loop closed:\n"
            f"{stack.getvalue()}",
            RuntimeWarning,
            stacklevel=1,
        )
    for task in to_cancel:
        if task in pending or task.cancelled() or task.exception() is None:
            continue
        loop.call_exception_handler(
            {
                "message": "unhandled exception during asyncio.run() shutdown",
                "exception": task.exception(),
                "task": task,
            }
        )


asyncio.runners._cancel_all_tasks = _cancel_all_tasks_bounded  # type: ignore[attr-defined]


_truncate_flush = PostgresOperations.sql_flush


def _delete_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    """Emptying the tables after a transactional test on PostgreSQL: DELETE instead of
    Django's TRUNCATE. TRUNCATE makes new files for every table and its indexes, about 0.45 s
    for Parlor's 36 tables on a small machine, against 7 ms to delete the few rows a test
    leaves; the scale-mode suite has some 550 such tests. Django runs the statements in one
    transaction and makes every foreign key DEFERRABLE INITIALLY DEFERRED, so the order of
    the deletions does not matter. The tables are first locked as TRUNCATE locks them: a
    thread of the test still writing is waited for, not deadlocked row by row, and its rows
    go too. Sequences to reset, or tables to cascade into, keep TRUNCATE."""
    if reset_sequences or allow_cascade or not tables:
        return _truncate_flush(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
    names = [self.quote_name(table) for table in tables]
    return [
        f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE;",
        *(f"DELETE FROM {name};" for name in names),  # noqa: S608  # our own tables
    ]


PostgresOperations.sql_flush = _delete_flush  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters, the first-run flag and the models list never leak between tests."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_gateway_check():
    """The gateway check a process last read (config.gateway_check) never leaks either."""
    from config import gateway_check

    gateway_check.forget()
    yield
    gateway_check.forget()


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each test gets its own channel layer object. Tests run on event loops of their own, and a
    RedisChannelLayer keeps asyncio locks across them: a receive cancelled in one test (a
    drain's timeout) could leave the lock of its process-specific channels held and bound to
    that test's loop, and the next test's receive failed with "bound to a different event
    loop" (seen in the scale-mode suite)."""
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


@pytest.fixture(autouse=True)
def _default_language():
    """No test inherits a language another test activated (frames render in the active one)."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _generous_highlight_time(monkeypatch):
    """Highlighting has a time budget per message (0.2 s); on a loaded CI machine that budget,
    not the behaviour a test checks, could decide. Tests of the budget set it themselves."""
    monkeypatch.setattr(rendering, "HIGHLIGHT_SECONDS", 30.0)
