"""`manage.py runworker`: the project's worker starts its consumers itself and outlives a
channel layer that fails (Redis restarting)."""

from __future__ import annotations

import asyncio

import pytest
import redis.exceptions
from channels.layers import InMemoryChannelLayer
from django.core.management import get_commands

from config.management.commands import runworker
from tests.sockets import TIMEOUT


def _recording_app(seen: list[dict], arrived: asyncio.Event):
    async def app(scope, receive, send):
        while True:
            seen.append(await receive())
            arrived.set()

    return app


async def _until(predicate, arrived: asyncio.Event) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not predicate():
            arrived.clear()
            await arrived.wait()


def test_the_projects_runworker_replaces_channels():
    assert get_commands()["runworker"] == "config"


async def test_each_consumer_is_started_with_no_message_from_anyone():
    seen: list[dict] = []
    arrived = asyncio.Event()
    worker = runworker.StartedWorker(
        _recording_app(seen, arrived), ["media-jobs"], InMemoryChannelLayer()
    )
    task = asyncio.create_task(worker.handle())
    try:
        await _until(lambda: seen, arrived)
        assert seen == [runworker.STARTED]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class FailingLayer(InMemoryChannelLayer):
    """Redis going away: the first `failures` receives raise as channels-redis does."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def receive(self, channel):
        if self.failures:
            self.failures -= 1
            raise redis.exceptions.ConnectionError("Connection refused")
        return await super().receive(channel)


async def test_a_failing_receive_is_retried_and_the_worker_lives_on(monkeypatch, caplog):
    monkeypatch.setattr(runworker, "RETRY_SECONDS", 0.01)
    layer = FailingLayer(failures=3)
    seen: list[dict] = []
    arrived = asyncio.Event()
    worker = runworker.StartedWorker(_recording_app(seen, arrived), ["media-jobs"], layer)
    task = asyncio.create_task(worker.handle())
    try:
        await layer.send("media-jobs", {"type": "media.wake"})
        await _until(lambda: len(seen) == 2, arrived)
        assert seen == [runworker.STARTED, {"type": "media.wake"}]
        assert not task.done()
        assert "trying again" in caplog.text and "works again" in caplog.text
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("message", [runworker.STARTED, {"type": "media.wake"}])
def test_the_media_worker_starts_its_loops_on_either_message(message):
    from media_jobs.worker import MediaJobsWorker

    handler = message["type"].replace(".", "_")
    assert getattr(MediaJobsWorker, handler) is MediaJobsWorker.media_wake
