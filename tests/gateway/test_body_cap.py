"""Every gateway answer is read with a byte cap (GATEWAY_MAX_BODY_BYTES) at the client seam,
before anything parses it: a task list of hundreds of MB is refused, not held in memory."""

from __future__ import annotations

import httpx
import pytest

from gateway import midjourney
from gateway.client import get_sync_client
from gateway.errors import GatewayBadResponse
from tests.gateway.fakes import respond

LIMIT = 64 * 1024
BIG_LIST = b"[" + b",".join([b'{"id":"1","status":"SUCCESS"}'] * 10_000) + b"]"


@pytest.fixture(autouse=True)
def small_cap(settings):
    settings.GATEWAY_MAX_BODY_BYTES = LIMIT


async def test_a_task_list_over_the_cap_is_refused_while_streaming(gateway):
    # No Content-Length: the bytes are counted as they arrive.
    pieces = [BIG_LIST[i : i + 8192] for i in range(0, len(BIG_LIST), 8192)]
    gateway.reply(respond(200, pieces, content_type="application/json"))

    with pytest.raises(GatewayBadResponse, match="bytes"):
        await midjourney.fetch_many(["1"])


async def test_a_declared_length_over_the_cap_is_refused_before_reading(gateway):
    read: list[int] = []

    class Counted(httpx.AsyncByteStream):
        async def __aiter__(self):
            for i in range(0, len(BIG_LIST), 8192):
                read.append(i)
                yield BIG_LIST[i : i + 8192]

    headers = {"content-type": "application/json", "content-length": str(len(BIG_LIST))}
    gateway.reply(httpx.Response(200, headers=headers, stream=Counted()))

    with pytest.raises(GatewayBadResponse):
        await midjourney.fetch_many(["1"])
    assert read == []


async def test_an_answer_under_the_cap_is_read_as_before(gateway):
    small = b'[{"id":"1","status":"SUCCESS","progress":"100%","imageUrl":"https://x/1.png"}]'
    gateway.reply(respond(200, [small], content_type="application/json"))

    (status,) = await midjourney.fetch_many(["1"])

    assert status.task_id == "1"


def test_the_sync_client_is_capped_too(gateway):
    gateway.reply(respond(200, [BIG_LIST], content_type="application/json"))

    with pytest.raises(GatewayBadResponse), get_sync_client() as client:
        client.get("/v1/models")
