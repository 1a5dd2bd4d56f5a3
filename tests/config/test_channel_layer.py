"""The Redis channel layer under a burst (the scale-mode suite)."""

from __future__ import annotations

import asyncio
import os

import pytest
from channels.layers import get_channel_layer

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the scale-mode suite)"
)


async def test_a_burst_of_layer_calls_beyond_redis_pys_default_pool_all_go_through():
    # 150 tabs sending at once make ~150 group_sends, and their sockets ~450 group_adds, at the
    # same instant; with redis-py's default pool of 100, the 101st raised MaxConnectionsError.
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("burst", channel)
    try:
        await asyncio.gather(
            *(layer.group_send("burst", {"type": "x.y", "n": n}) for n in range(300))
        )
        first = await asyncio.wait_for(layer.receive(channel), 5)
        assert first["type"] == "x.y"
    finally:
        await layer.group_discard("burst", channel)
        await layer.flush()
