"""The poller loop in both modes: woken by a create, run by the web process (embedded) or by
a Channels worker on the "media-jobs" channel (scale mode), the same code."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import ApplicationCommunicator

from accounts.live import user_group
from chat import embedding_worker
from config import asgi, startup
from media_jobs import poller, worker
from media_jobs.models import MediaJob
from tests.media_jobs.conftest import new_job
from tests.sockets import TIMEOUT

pytestmark = pytest.mark.django_db(transaction=True)
Status = MediaJob.Status


def test_the_web_process_runs_the_poller_and_a_worker_serves_the_channel():
    assert poller.run_embedded_poller in startup.BACKGROUND
    assert poller.wake_worker_at_start in startup.BEFORE_SERVING
    assert "media-jobs" in asgi.WORKER_CHANNELS


async def test_scale_mode_leaves_polling_to_the_workers(settings):
    settings.REDIS_URL = "redis://example.invalid:6379/0"
    await asyncio.wait_for(poller.run_embedded_poller(), TIMEOUT)  # returns at once


async def _first_change(channel: str) -> dict:
    """The first card refresh pushed to `channel` (a create's gallery insertion comes first)."""
    while True:
        message = await asyncio.wait_for(get_channel_layer().receive(channel), TIMEOUT)
        if "data-job-changed=" in message["html"]:
            return message


async def test_a_wake_ends_the_pollers_sleep_at_once(media, team, alice):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(user_group(alice.pk), channel)
    stop = asyncio.Event()
    loop_task = asyncio.create_task(poller.run_poller("loop", stop=stop))
    try:
        # the loop found nothing and sleeps up to IDLE_SECONDS; a create wakes it
        job = await database_sync_to_async(new_job)(alice, team)
        await database_sync_to_async(poller.wake)()  # from sync code, as a view does
        message = await _first_change(channel)
        assert job.pk.hex in message["html"]
        job = await MediaJob.objects.aget(pk=job.pk)
        assert job.status == Status.SUBMITTED
    finally:
        stop.set()
        poller.wake()  # from async code
        await asyncio.wait_for(loop_task, TIMEOUT)


async def test_the_worker_consumer_starts_the_same_loop_on_its_first_message(media, team, alice):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(user_group(alice.pk), channel)
    job = await database_sync_to_async(new_job)(alice, team)
    communicator = ApplicationCommunicator(
        asgi.application, {"type": "channel", "channel": "media-jobs"}
    )
    try:
        await communicator.send_input(dict(poller.WAKE))
        message = await _first_change(channel)
        assert job.pk.hex in message["html"]
    finally:
        loop = asyncio.get_running_loop()
        # The poller and the embedder the worker started on this loop (media_jobs.worker).
        tasks = [
            t
            for t in (worker._running.pop(loop, None), embedding_worker._running.pop(loop, None))
            if t
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        communicator.stop()


@pytest.mark.skipif(
    not (os.environ.get("REDIS_URL") and os.environ.get("DATABASE_URL")),
    reason="needs REDIS_URL and DATABASE_URL (the scale-mode suite)",
)
async def test_runworker_in_another_process_pushes_through_redis_to_a_websocket(
    media, team, alice, settings
):
    """`manage.py runworker media-jobs` as its own process, the Redis layer between it and a
    websocket client here: the job is submitted by the worker and its card stub arrives."""
    from tests.factories import make_conversation
    from tests.sockets import cookie_for, open_socket

    conversation = await database_sync_to_async(make_conversation)(team, alice)
    cookie = await database_sync_to_async(cookie_for)(alice)
    communicator, connected = await open_socket(conversation, cookie)
    assert connected
    from django.db import connection

    # the worker uses this test database and the demo gateway of this test
    database_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"{database_url}/{connection.settings_dict['NAME']}",
        "GATEWAY_BASE_URL": settings.GATEWAY_BASE_URL,
        "GATEWAY_API_KEY": settings.GATEWAY_API_KEY,
    }
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "media-jobs"], cwd=root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        job = await database_sync_to_async(new_job)(alice, team, conversation=conversation)
        await poller.awake()  # what a create does after its commit, in scale mode
        while True:  # the create's gallery insertion comes first; then the worker's change
            frame = await communicator.receive_from(timeout=TIMEOUT * 3)
            if f'data-job-changed="{job.pk.hex}"' in frame:
                break
        job = await MediaJob.objects.aget(pk=job.pk)
        assert job.status == Status.SUBMITTED and job.lease_owner == ""
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        await communicator.disconnect()


@pytest.mark.skipif(
    not (os.environ.get("REDIS_URL") and os.environ.get("DATABASE_URL")),
    reason="needs REDIS_URL and DATABASE_URL (the scale-mode suite)",
)
async def test_runworker_polls_from_its_start_with_no_message_from_anyone(
    media, team, alice, settings, monkeypatch
):
    """A worker started while jobs wait (after a crash, say) takes them up by itself: nobody
    sends the "media-jobs" channel anything."""
    from django.db import connection

    monkeypatch.setattr(poller, "wake", lambda: None)
    settings.REDIS_PREFIX = env_prefix = f"quiet{os.getpid()}"  # a channel nobody wrote to
    job = await database_sync_to_async(new_job)(alice, team)
    database_url = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"{database_url}/{connection.settings_dict['NAME']}",
        "REDIS_PREFIX": env_prefix,
        "GATEWAY_BASE_URL": settings.GATEWAY_BASE_URL,
        "GATEWAY_API_KEY": settings.GATEWAY_API_KEY,
    }
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "media-jobs"], cwd=root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with asyncio.timeout(TIMEOUT * 3):
            while job.status == Status.QUEUED:
                await asyncio.sleep(0.2)
                job = await MediaJob.objects.aget(pk=job.pk)
        assert job.status == Status.SUBMITTED
    finally:
        process.terminate()
        process.wait(TIMEOUT)
