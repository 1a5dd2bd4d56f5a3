"""The demo gateway's /v1/embeddings: deterministic vectors in which texts that share words
are close, float arrays or base64 as asked, the shape and usage of new-api's answer."""

from __future__ import annotations

import base64
import math
import struct

from demo_gateway.embeddings import vector


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_texts_that_share_words_are_close_and_others_are_not():
    plans = vector("Our holiday plans for the summer")
    paraphrase = vector("planning a summer holiday")
    other = vector("quarterly revenue report")
    assert cosine(plans, paraphrase) > 0.5
    assert abs(cosine(plans, other)) < 0.2
    assert vector("planning a summer holiday") == paraphrase  # deterministic
    assert math.isclose(cosine(plans, plans), 1.0, rel_tol=1e-9)


def test_an_answer_has_one_vector_per_input_and_the_prompt_tokens(client):
    body = {"model": "text-embedding-3-small", "input": ["first text", "a second, longer text"]}
    answer = client.post("/v1/embeddings", json=body).json()

    assert answer["object"] == "list" and answer["model"] == "text-embedding-3-small"
    assert [item["index"] for item in answer["data"]] == [0, 1]
    assert len(answer["data"][0]["embedding"]) == 1536
    assert answer["data"][0]["embedding"] == vector("first text")
    assert answer["usage"] == {"prompt_tokens": 3 + 6, "total_tokens": 9}


def test_base64_and_dimensions_are_honoured(client):
    body = {"model": "text-embedding-3-small", "input": "short", "encoding_format": "base64",
            "dimensions": 64}  # fmt: skip
    item = client.post("/v1/embeddings", json=body).json()["data"][0]
    raw = base64.b64decode(item["embedding"])
    assert len(raw) == 64 * 4
    assert list(struct.unpack("<64f", raw)) == [
        struct.unpack("<f", struct.pack("<f", v))[0] for v in vector("short", 64)
    ]


def test_empty_input_is_refused_as_new_api_does(client):
    response = client.post("/v1/embeddings", json={"model": "m", "input": []})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_embedding_request"


def test_it_needs_the_key(demo_gateway):
    import httpx

    response = httpx.post(
        demo_gateway.base_url + "/v1/embeddings", json={"model": "m", "input": "x"}, timeout=5
    )
    assert response.status_code == 401
