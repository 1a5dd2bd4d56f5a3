"""Embeddings through the gateway: POST /v1/embeddings (docs/gateway-api.md, "Embeddings").

Vectors come back as little-endian float32 bytes, one per input in input order, whatever
the gateway sent: Parlor asks for `encoding_format: "base64"` (a quarter of the JSON), but
channels that new-api converts may answer float arrays, so both are read. `dimensions` is
sent only to the models that take it (`text-embedding-3-*`). The gateway bills by input
token; its count (`usage.prompt_tokens`) is returned, None when it sent none.

Limits of one request (the gateway's): at most 2,048 inputs, 8,192 tokens per input and
300,000 tokens per request; callers stay well inside them (chat.embedding_worker).
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.client import get_client, get_sync_client, read_json
from gateway.errors import GatewayBadResponse, error_from_exception
from gateway.types import token_count

PATH = "/v1/embeddings"
MAX_INPUTS = 2048
# The vector widths Parlor accepts: anything else is not an embedding.
MAX_DIMENSIONS = 16_384


@dataclass(frozen=True, slots=True)
class Embeddings:
    """One answer: `vectors[i]` (float32 little-endian bytes, all of `dims` floats) is the
    embedding of input i."""

    model: str
    dims: int
    vectors: list[bytes]
    prompt_tokens: int | None


def takes_dimensions(model: str) -> bool:
    return model.startswith("text-embedding-3")


def request_body(texts: list[str], *, model: str, dimensions: int = 0) -> dict[str, Any]:
    if not texts or len(texts) > MAX_INPUTS or not all(isinstance(t, str) and t for t in texts):
        raise ValueError("between 1 and 2048 non-empty texts")
    body: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "base64"}
    if dimensions and takes_dimensions(model):
        body["dimensions"] = dimensions
    return body


async def embed(texts: list[str], *, model: str, dimensions: int = 0) -> Embeddings:
    """Embed `texts` (1..2048 non-empty strings) with `model`; GatewayError on failure."""
    body = request_body(texts, model=model, dimensions=dimensions)
    try:
        response = await get_client().post(PATH, json=body)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from None
    return parse(read_json(response), count=len(texts), model=model)


def embed_sync(texts: list[str], *, model: str, dimensions: int = 0) -> Embeddings:
    """`embed` for sync code (a view embedding a search query)."""
    body = request_body(texts, model=model, dimensions=dimensions)
    try:
        with get_sync_client() as client:
            response = client.post(PATH, json=body)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from None
    return parse(read_json(response), count=len(texts), model=model)


def parse(data: Any, *, count: int, model: str) -> Embeddings:
    """The answer as Embeddings; GatewayBadResponse unless it holds `count` vectors of one
    width, each finite."""
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) != count:
        raise GatewayBadResponse(f"expected {count} embeddings, got {_describe(items)}")
    vectors: list[bytes | None] = [None] * count
    for position, item in enumerate(items):
        index = item.get("index", position) if isinstance(item, dict) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            raise GatewayBadResponse(f"embedding {position} has no usable index")
        vectors[index] = _vector(item.get("embedding"))
    if any(v is None for v in vectors):
        raise GatewayBadResponse("an embedding index is repeated")
    widths = {len(v) for v in vectors if v is not None}
    if len(widths) != 1:
        raise GatewayBadResponse("embeddings of different widths")
    dims = widths.pop() // 4
    usage = data.get("usage") if isinstance(data, dict) else None
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    prompt_tokens = token_count(tokens)
    answered = data.get("model")
    return Embeddings(
        model=answered if isinstance(answered, str) and answered else model,
        dims=dims,
        vectors=[v for v in vectors if v is not None],
        prompt_tokens=prompt_tokens,
    )


def _vector(value: Any) -> bytes:
    """float32 little-endian bytes of a float array or of base64 (already float32 LE)."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise GatewayBadResponse("an embedding is not base64") from None
        if not raw or len(raw) % 4 or len(raw) // 4 > MAX_DIMENSIONS:
            raise GatewayBadResponse("an embedding has an impossible length")
        floats = struct.unpack(f"<{len(raw) // 4}f", raw)
        if not all(math.isfinite(f) for f in floats):
            raise GatewayBadResponse("an embedding holds a non-finite number")
        return raw
    if not isinstance(value, list) or not value or len(value) > MAX_DIMENSIONS:
        raise GatewayBadResponse("an embedding is not a list of numbers")
    if not all(
        isinstance(f, int | float) and not isinstance(f, bool) and math.isfinite(f) for f in value
    ):
        raise GatewayBadResponse("an embedding holds something other than numbers")
    try:
        return struct.pack(f"<{len(value)}f", *value)
    except (OverflowError, struct.error):
        raise GatewayBadResponse("an embedding holds a number out of range") from None


def _describe(items: Any) -> str:
    return str(len(items)) if isinstance(items, list) else type(items).__name__
