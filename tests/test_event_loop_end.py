"""The end of a test's event loop (tests/conftest.py) waits a bounded time for what it cancels."""

from __future__ import annotations

import asyncio

import pytest

from tests import conftest


def test_a_task_that_ignores_its_cancellation_is_left_with_a_warning(monkeypatch):
    monkeypatch.setattr(conftest, "STRAGGLER_SECONDS", 0.05)
    loop = asyncio.new_event_loop()

    async def stubborn():
        while True:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue

    async def obedient():
        await asyncio.sleep(60)

    kept = loop.create_task(stubborn())
    ended = loop.create_task(obedient())
    loop.run_until_complete(asyncio.sleep(0))
    try:
        with pytest.warns(RuntimeWarning, match="ignored its cancellation") as caught:
            asyncio.runners._cancel_all_tasks(loop)  # type: ignore[attr-defined]
        assert len(caught) == 1 and "stubborn" in str(caught[0].message)
        assert ended.cancelled() and not kept.done()
    finally:
        kept.cancel()  # the loop goes with the test: let the stubborn task be garbage
        loop.close()
