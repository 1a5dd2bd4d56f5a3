"""The demo gateway's /v1/completions (docs/gateway-api.md, "Completions"): text chunks, the
chat-shaped usage chunk new-api sends on this route, max_tokens and stop honoured."""

from __future__ import annotations

import json

from demo_gateway.completions import CONTINUATION
from demo_gateway.replies import tokenize

from .conftest import events

INSTRUCT = "gpt-3.5-turbo-instruct"


def body(prompt: str = "Once upon a time", **extra) -> dict:
    return {"model": INSTRUCT, "prompt": prompt, "max_tokens": 500, "stream": True, **extra}


def parsed(raw: bytes) -> list[dict]:
    return [json.loads(e) for e in events(raw) if e != b"[DONE]"]


def test_the_instruct_model_is_listed_and_priced_per_token(client):
    ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert INSTRUCT in ids
    prices = {row["model_name"]: row for row in client.get("/api/pricing").json()["data"]}
    assert prices[INSTRUCT]["quota_type"] == 0  # per token
    assert prices[INSTRUCT]["model_ratio"] > 0


def test_it_streams_text_chunks_then_a_chat_shaped_usage_chunk(client):
    response = client.post("/v1/completions", json=body(stream_options={"include_usage": True}))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.content.endswith(b"data: [DONE]\n\n")
    chunks = parsed(response.content)
    texts = [c["choices"][0]["text"] for c in chunks if c["choices"]]
    assert "".join(texts) == CONTINUATION
    assert chunks[0]["object"] == "text_completion"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    usage = chunks[-1]
    assert usage["object"] == "chat.completion.chunk"
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == len(tokenize(CONTINUATION))


def test_no_usage_chunk_unless_asked(client):
    chunks = parsed(client.post("/v1/completions", json=body()).content)
    assert all("usage" not in c for c in chunks)


def test_max_tokens_cuts_the_text_with_length(client):
    chunks = parsed(client.post("/v1/completions", json=body(max_tokens=5)).content)
    texts = [c["choices"][0]["text"] for c in chunks if c["choices"][0]["text"]]
    assert texts == tokenize(CONTINUATION)[:5]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_the_first_stop_sequence_ends_the_text_before_it(client):
    chunks = parsed(client.post("/v1/completions", json=body(stop=["END", "max"])).content)
    text = "".join(c["choices"][0]["text"] for c in chunks)
    assert text == CONTINUATION[: CONTINUATION.index("max")]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_non_stream_is_a_text_completion_with_usage(client):
    response = client.post("/v1/completions", json=body(stream=False, max_tokens=3))
    answer = response.json()
    assert answer["object"] == "text_completion"
    assert answer["choices"][0]["text"] == "".join(tokenize(CONTINUATION)[:3])
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 3


def test_a_marker_in_the_prompt_picks_a_scenario(client):
    response = client.post("/v1/completions", json=body("[demo:http_429] go"))
    assert response.status_code == 429


def test_prompt_is_required_and_the_model_must_be_listed(client):
    missing = client.post("/v1/completions", json={"model": INSTRUCT, "stream": True})
    unknown = client.post("/v1/completions", json={**body(), "model": "nope"})
    assert missing.status_code == 400
    assert "prompt is required" in missing.json()["error"]["message"]
    assert unknown.status_code == 503


def test_it_needs_the_token(client, demo_gateway):
    response = client.post("/v1/completions", json=body(), headers={"Authorization": ""})
    assert response.status_code == 401
