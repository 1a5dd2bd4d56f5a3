"""Embeddings on the demo gateway: POST /v1/embeddings (docs/gateway-api.md, "Embeddings").

Deterministic vectors in which texts that share words are close: the crude stem of every
lower-cased word (so "plans" meets "planning") is hashed into one of DIMENSIONS buckets,
common short words left out, and the bag is normalised. Same text, same vector, in
every process. `usage.prompt_tokens` counts about four characters per token, at least one
per input. `dimensions` (text-embedding-3-*) shortens the vector as the real models do.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from typing import Any

from demo_gateway.scenarios import Reply, dumps, error_a

DIMENSIONS = 1536  # text-embedding-3-small's own width
MAX_DIMENSIONS = 3072
_WORD = re.compile(r"\w+", re.UNICODE)
_SUFFIXES = ("ings", "ing", "ions", "ion", "ed", "ly", "s")
STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "for", "from",
        "has", "have", "how", "i", "if", "in", "is", "it", "its", "me", "my", "of", "on", "or",
        "our", "so", "that", "the", "their", "them", "there", "these", "this", "to", "was",
        "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "you",
        "your",
    }
)  # fmt: skip


def stem(word: str) -> str:
    """A crude English stem: "plans", "planned" and "planning" all give "plan"."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    else:
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _bucket(token: str, dims: int) -> tuple[int, float]:
    digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
    number = int.from_bytes(digest, "little")
    return number % dims, 1.0 if number >> 63 else -1.0


def vector(text: str, dims: int = DIMENSIONS) -> list[float]:
    """The text's unit vector (all zeros but one bucket for a text of only common words)."""
    values = [0.0] * dims
    words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    for word in words:
        index, sign = _bucket(stem(word), dims)
        values[index] += sign
    norm = math.sqrt(sum(v * v for v in values))
    if not norm:
        values[0] = 1.0
        return values
    return [v / norm for v in values]


def prompt_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def answer(body: Any, request_id: str) -> Reply:
    """The reply to one embeddings request (already authorised)."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return error_a(400, "invalid request body", request_id, code="invalid_embedding_request")
    texts = body.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if (
        not isinstance(texts, list)
        or not texts
        or len(texts) > 2048
        or not all(isinstance(t, str) and t for t in texts)
    ):
        return error_a(400, "input is empty", request_id, code="invalid_embedding_request")
    dims = body.get("dimensions")
    if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= MAX_DIMENSIONS:
        dims = DIMENSIONS
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        values = vector(text, dims)
        encoded: Any = values
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{dims}f", *values)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(prompt_tokens(t) for t in texts)
    reply = {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Reply(200, dumps(reply).encode())
