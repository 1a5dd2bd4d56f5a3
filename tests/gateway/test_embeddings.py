"""gateway.embeddings: POST /v1/embeddings (docs/gateway-api.md, Embeddings): base64 asked,
float arrays accepted too, vectors in input order as float32 bytes, the usage count, and
answers that are not embeddings refused."""

from __future__ import annotations

import base64
import json
import struct

import httpx
import pytest
from asgiref.sync import async_to_sync

from gateway import embeddings
from gateway.client import use_transport
from gateway.errors import GatewayBadResponse, GatewayRateLimited


def floats(raw: bytes) -> list[float]:
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


@pytest.fixture
def answer(settings):
    settings.GATEWAY_BASE_URL = "https://gw.example/v1"
    settings.GATEWAY_API_KEY = "sk-test"
    sent: list[dict] = []
    reply: dict = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append({"path": request.url.path, **json.loads(request.content)})
        return httpx.Response(reply.get("status", 200), json=reply["body"])

    with use_transport(httpx.MockTransport(handler)):
        yield sent, reply


def test_base64_vectors_in_input_order_with_the_token_count(answer):
    sent, reply = answer
    one = struct.pack("<3f", 0.5, -0.25, 1.0)
    two = struct.pack("<3f", 1.0, 0.0, 0.0)
    reply["body"] = {
        "object": "list",
        "data": [  # out of order: `index` decides
            {"object": "embedding", "index": 1, "embedding": base64.b64encode(two).decode()},
            {"object": "embedding", "index": 0, "embedding": base64.b64encode(one).decode()},
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }
    result = embeddings.embed_sync(["a", "b"], model="text-embedding-3-small", dimensions=3)

    assert sent == [
        {"path": "/v1/embeddings", "model": "text-embedding-3-small", "input": ["a", "b"],
         "encoding_format": "base64", "dimensions": 3}
    ]  # fmt: skip
    assert result.vectors == [one, two]
    assert (result.dims, result.prompt_tokens) == (3, 7)


def test_float_arrays_are_accepted_and_dimensions_only_go_to_models_that_take_them(answer):
    sent, reply = answer
    reply["body"] = {"data": [{"index": 0, "embedding": [0.5, 0.25]}]}
    result = async_to_sync(embeddings.embed)(["a"], model="text-embedding-ada-002", dimensions=64)
    assert "dimensions" not in sent[0]
    assert floats(result.vectors[0]) == [0.5, 0.25]
    assert result.prompt_tokens is None  # no usage: the caller estimates


@pytest.mark.parametrize(
    "body",
    [
        {"data": []},
        {"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]},
        {"data": [{"index": 0, "embedding": [1.0, 2.0]}, {"index": 1, "embedding": [1.0]}]},
        {"data": [{"index": 0, "embedding": "not base64!"}, {"index": 1, "embedding": [1]}]},
        {"data": [{"index": 0, "embedding": [1e300]}, {"index": 1, "embedding": [1.0]}]},
        {"data": [{"index": 0, "embedding": ["x"]}, {"index": 1, "embedding": [1.0]}]},
        {"data": [{"index": 5, "embedding": [1.0]}, {"index": 1, "embedding": [1.0]}]},
        ["not", "an", "answer"],
    ],
)
def test_answers_that_are_not_two_embeddings_are_refused(answer, body):
    _sent, reply = answer
    reply["body"] = body
    with pytest.raises(GatewayBadResponse):
        embeddings.embed_sync(["a", "b"], model="m")


def test_errors_are_the_gateways(answer):
    _sent, reply = answer
    reply.update(status=429, body={"error": {"message": "slow down", "code": "rate_limit"}})
    with pytest.raises(GatewayRateLimited):
        embeddings.embed_sync(["a"], model="m")


def test_empty_input_is_never_sent(answer):
    sent, _reply = answer
    with pytest.raises(ValueError):
        embeddings.embed_sync([], model="m")
    with pytest.raises(ValueError):
        embeddings.embed_sync([""], model="m")
    assert sent == []
