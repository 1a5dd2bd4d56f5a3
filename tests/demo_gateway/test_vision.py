"""Image parts (docs/gateway-api.md, "Chat"): a model that can see describes what it got; the
refusals real upstreams make are 400s in new-api's error shape."""

from __future__ import annotations

import base64
import io

from PIL import Image

from demo_gateway import vision

from .conftest import deltas


def _data_uri(size=(120, 80), colour=(30, 60, 220), fmt="PNG") -> str:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(out.getvalue()).decode()}"


def _body(model="gpt-4o", *, text="What is this?", urls=(), stream=False, history=()) -> dict:
    parts = [{"type": "text", "text": text}] + [
        {"type": "image_url", "image_url": {"url": url}} for url in urls
    ]
    messages = [*history, {"role": "user", "content": parts}]
    return {"model": model, "messages": messages, "stream": stream}


def test_a_model_that_sees_describes_each_image(client):
    uris = [_data_uri((120, 80), (30, 60, 220)), _data_uri((10, 300), (240, 220, 40), "JPEG")]
    response = client.post("/v1/chat/completions", json=_body(urls=uris))

    assert response.status_code == 200
    text = response.json()["choices"][0]["message"]["content"]
    assert "I can see 2 images." in text
    assert "Image 1: a PNG of 120x80 pixels, mostly blue" in text
    assert "Image 2: a JPEG of 10x300 pixels, mostly yellow" in text
    assert "What is this?" in text


def test_the_description_streams_too(client):
    response = client.post("/v1/chat/completions", json=_body(urls=[_data_uri()], stream=True))

    text = "".join(d.get("content") or "" for d in deltas(response.content))
    assert text == vision.description(_body(urls=[_data_uri()]))


def test_a_model_without_vision_refuses_image_parts(client):
    response = client.post("/v1/chat/completions", json=_body("demo-fast", urls=[_data_uri()]))

    assert response.status_code == 400
    error = response.json()["error"]
    assert "image_url is only supported by certain models" in error["message"]
    assert error["type"] == "invalid_request_error"


def test_image_parts_in_an_assistant_message_are_refused(client):
    history = [
        {"role": "user", "content": "draw"},
        {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
    ]
    response = client.post("/v1/chat/completions", json=_body(history=history))

    assert response.status_code == 400
    assert "only allowed for messages with role 'user'" in response.json()["error"]["message"]


def test_an_image_over_five_megabytes_is_refused(client):
    huge = "data:image/png;base64," + "A" * (vision.MAX_BASE64_BYTES + 4)
    response = client.post("/v1/chat/completions", json=_body(urls=[huge]))

    assert response.status_code == 400
    assert "image exceeds 5 MB maximum" in response.json()["error"]["message"]


def test_text_alone_is_answered_as_before(client):
    response = client.post(
        "/v1/chat/completions",
        json={"model": "demo-fast", "messages": [{"role": "user", "content": "Hello"}]},
    )

    assert response.status_code == 200
    assert "I can see" not in response.json()["choices"][0]["message"]["content"]


def test_a_link_is_named_not_fetched():
    assert "does not fetch" in vision.describe_url("https://example.com/cat.png")
