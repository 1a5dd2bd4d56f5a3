"""chat.batching: calls that queue behind running work run together, each with its own outcome."""

from __future__ import annotations

import asyncio
import threading

import pytest

from chat.batching import Batcher

pytestmark = pytest.mark.django_db(transaction=True)


class Recorder:
    """A batch function that records its batches and waits for a gate before the first."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()

    def __call__(self, items: list[int]) -> list[int | Exception]:
        self.gate.wait(5)
        self.batches.append(list(items))
        return [ValueError(item) if item < 0 else item * 10 for item in items]


async def _queue_behind_first(batcher: Batcher, recorder: Recorder, items: list[int]):
    first = asyncio.ensure_future(batcher(0))
    await asyncio.sleep(0.05)  # the first batch is running, held at the gate
    rest = [asyncio.ensure_future(batcher(item)) for item in items]
    await asyncio.sleep(0)
    recorder.gate.set()
    return first, rest


async def test_calls_made_while_a_batch_runs_are_taken_together():
    recorder = Recorder()
    batcher = Batcher(recorder, max_lanes=1)
    first, rest = await _queue_behind_first(batcher, recorder, [1, 2, 3, 4])
    assert await first == 0
    assert [await task for task in rest] == [10, 20, 30, 40]
    assert recorder.batches == [[0], [1, 2, 3, 4]]


async def test_a_refusal_is_raised_to_its_caller_only():
    recorder = Recorder()
    batcher = Batcher(recorder, max_lanes=1)
    _first, rest = await _queue_behind_first(batcher, recorder, [1, -2, 3])
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert results[0] == 10 and results[2] == 30
    assert isinstance(results[1], ValueError) and results[1].args == (-2,)


async def test_a_batch_that_fails_as_a_whole_is_run_again_one_by_one():
    seen: list[list[int]] = []
    gate = threading.Event()

    def run(items: list[int]) -> list[int | Exception]:
        gate.wait(5)
        seen.append(list(items))
        if len(items) > 1:
            raise RuntimeError("the commit failed")
        if items == [2]:
            raise LookupError("this one fails alone too")
        return [item + 100 for item in items]

    batcher = Batcher(run, max_lanes=1)
    first = asyncio.ensure_future(batcher(0))
    await asyncio.sleep(0.05)
    rest = [asyncio.ensure_future(batcher(item)) for item in (1, 2, 3)]
    gate.set()
    assert await first == 100
    results = await asyncio.gather(*rest, return_exceptions=True)
    assert results[0] == 101 and results[2] == 103
    assert isinstance(results[1], LookupError)
    assert seen == [[0], [1, 2, 3], [1], [2], [3]]


async def test_a_batch_is_never_larger_than_its_bound(monkeypatch):
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=2, max_lanes=1)
    first, rest = await _queue_behind_first(batcher, recorder, [1, 2, 3, 4, 5])
    await asyncio.gather(first, *rest)
    assert recorder.batches == [[0], [1, 2], [3, 4], [5]]


async def test_a_cancelled_caller_leaves_its_neighbours_their_results():
    recorder = Recorder()
    batcher = Batcher(recorder, max_lanes=1)
    first, rest = await _queue_behind_first(batcher, recorder, [1, 2])
    recorder.gate.clear()
    rest[0].cancel()
    recorder.gate.set()
    assert await first == 0
    assert await rest[1] == 20
    assert rest[0].cancelled()


async def test_a_lone_call_runs_at_once_and_the_lane_is_given_back():
    recorder = Recorder()
    recorder.gate.set()
    batcher = Batcher(recorder, max_lanes=1)
    assert await batcher(7) == 70
    assert batcher.lanes == 0 and batcher.queue == []
