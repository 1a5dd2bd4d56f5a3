"""config.startup: what a process starts, without changing settings at runtime."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta

import httpx
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils import timezone

from chat.models import Message
from chat.signals import reply_ended
from config import startup
from demo_gateway import start_in_thread
from gateway import catalogue
from tests.factories import make_conversation, make_message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_settings(settings):
    """Settings as config.settings.base leaves them without GATEWAY_BASE_URL, on a free port."""
    port = _free_port()
    settings.DEMO_GATEWAY = True
    settings.DEMO_GATEWAY_PORT = port
    settings.GATEWAY_BASE_URL = f"http://127.0.0.1:{port}"
    settings.GATEWAY_API_KEY = "sk-demo"
    return settings


def test_the_demo_gateway_starts_where_settings_already_point(demo_settings):
    before = (django_settings.GATEWAY_BASE_URL, django_settings.GATEWAY_API_KEY)
    said: list[str] = []

    demo_settings.DEMO_GATEWAY_TOKEN_DELAY = 0.005
    gateway = startup.start_demo_gateway(said.append)

    try:
        assert gateway is not None
        assert gateway.token_delay == 0.005
        assert before == (django_settings.GATEWAY_BASE_URL, django_settings.GATEWAY_API_KEY)
        assert gateway.base_url == django_settings.GATEWAY_BASE_URL
        answer = httpx.get(
            gateway.base_url + "/v1/models", headers={"Authorization": "Bearer sk-demo"}
        )
        assert answer.status_code == 200
        assert said == [f"No GATEWAY_BASE_URL set: using the built-in demo gateway at {before[0]}"]
    finally:
        if gateway is not None:
            gateway.stop_thread()


def test_a_port_taken_by_another_program_stops_start_up_clearly(demo_settings):
    with socket.socket() as other:
        other.bind(("127.0.0.1", demo_settings.DEMO_GATEWAY_PORT))
        other.listen()
        with pytest.raises(startup.StartupError, match=r"DEMO_GATEWAY_PORT \d+ is in use"):
            startup.start_demo_gateway(lambda text: None)


def test_a_demo_gateway_of_another_process_on_the_port_is_shared(demo_settings):
    first = start_in_thread(port=demo_settings.DEMO_GATEWAY_PORT, api_key="sk-demo")
    said: list[str] = []
    try:
        assert startup.start_demo_gateway(said.append) is None
    finally:
        first.stop_thread()
    assert said == [
        "No GATEWAY_BASE_URL set: sharing the demo gateway already running at "
        + demo_settings.GATEWAY_BASE_URL
    ]


def test_a_real_gateway_starts_no_demo_gateway(settings):
    settings.DEMO_GATEWAY = False
    assert startup.start_demo_gateway(lambda text: None) is None


def test_the_lists_name_what_a_process_starts():
    assert (
        startup.interrupt_orphans_at_start,
        startup.settle_left_reservations,
        startup.start_demo_gateway,
        startup.import_prices_at_start,
        startup.warm_model_catalogue,
        startup.wake_worker_at_start,
    ) == startup.BEFORE_SERVING
    assert startup.sweep_orphaned_replies in startup.BACKGROUND
    assert [job.__name__ for job in startup.AT_SHUTDOWN] == ["aclose_clients"]


def test_the_model_list_is_fetched_at_start_so_the_first_page_offers_it(demo_gateway):
    assert catalogue.list_chat_models() == []  # nothing cached: a page would offer none yet
    catalogue.wait_for_refresh()
    cache.clear()

    startup.warm_model_catalogue(lambda text: None)
    catalogue.wait_for_refresh()

    assert "gpt-4o-mini" in catalogue.list_chat_models()
    assert [r.path for r in demo_gateway.requests].count("/v1/models") == 2


@pytest.mark.django_db(transaction=True)
async def test_in_scale_mode_stale_replies_are_swept_periodically(
    settings, monkeypatch, alice, team
):
    settings.REDIS_URL = "redis://scale-mode"  # only the flag is read
    monkeypatch.setattr(startup.liveness, "BEAT_SECONDS", 0)
    conversation = await asyncio.to_thread(make_conversation, team, alice)
    stale = await asyncio.to_thread(
        make_message, conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING
    )
    old = timezone.now() - timedelta(days=1)
    await Message.objects.filter(pk=stale.pk).aupdate(updated_at=old)
    loop = asyncio.get_running_loop()
    swept = asyncio.Event()

    def receiver(sender, *, message, **kwargs):
        loop.call_soon_threadsafe(swept.set)

    reply_ended.connect(receiver, sender=Message, weak=False)
    tasks = startup.start_background(loop)
    try:
        await asyncio.wait_for(swept.wait(), 10)
    finally:
        reply_ended.disconnect(receiver, sender=Message)
        await startup.shutdown(tasks)
    stale = await Message.objects.aget(pk=stale.pk)
    assert stale.status == Message.Status.INTERRUPTED
    assert all(task.done() for task in tasks)


async def test_in_embedded_mode_there_is_no_periodic_sweep(settings):
    settings.REDIS_URL = ""
    await asyncio.wait_for(startup.sweep_orphaned_replies(), 10)  # returns at once


@pytest.mark.django_db
def test_charges_left_reserved_are_settled_before_serving(alice, team):
    from decimal import Decimal

    from usage import services
    from usage.models import UsageRecord

    conversation = make_conversation(team, alice)
    reply = make_message(
        conversation, role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE, content="abcd"
    )
    record = services.reserve(
        team=team, user=alice, role="owner", kind="chat", model="gpt-4o-mini",
        amount=Decimal(1), message=reply,
    )  # fmt: skip
    UsageRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(hours=1))
    said: list[str] = []

    startup.settle_left_reservations(said.append)

    record.refresh_from_db()
    assert record.status == UsageRecord.Status.SETTLED and record.completion_tokens == 1
    assert said == ["Settled or refunded 1 charges left reserved by a previous run."]
