"""The Redis cache's clear() empties the cache and nothing else in the database (scale mode)."""

from __future__ import annotations

import asyncio
import os

import pytest
from channels.layers import get_channel_layer
from django.core.cache import cache

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the scale-mode suite)"
)


async def test_clearing_the_cache_leaves_the_channel_layer_and_other_sites_alone():
    client = cache._cache.get_client(None, write=True)  # type: ignore[attr-defined]
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("cache-neighbours", channel)
    other_site = f"{cache.key_prefix}-other-site:1:flag"  # type: ignore[attr-defined]
    client.set(other_site, b"1")
    cache.set_many({f"key-{n}": n for n in range(1200)})  # more than one deletion batch
    try:
        cache.clear()

        assert cache.get("key-0") is None and cache.get("key-1199") is None
        assert client.get(other_site) == b"1"
        await layer.group_send("cache-neighbours", {"type": "group.still.here"})
        assert await asyncio.wait_for(layer.receive(channel), 5) == {"type": "group.still.here"}
    finally:
        client.delete(other_site)
        await layer.group_discard("cache-neighbours", channel)
