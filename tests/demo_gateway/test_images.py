"""The demo gateway's images API: real PNGs at the requested size, url or b64_json by
model, revised prompts for dall-e-3, new-api's validation errors, and a 501 on
/v1/images/edits on request."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image

from demo_gateway import start_in_thread


@pytest.fixture
def gateway():
    running = start_in_thread(token_delay=0)
    try:
        yield running
    finally:
        running.stop_thread()


def post(gateway, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {gateway.api_key}", **kwargs.pop("headers", {})}
    return httpx.post(gateway.base_url + path, headers=headers, timeout=10, **kwargs)


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "PNG"
        return picture.size


def test_dall_e_3_answers_a_link_to_a_png_of_the_size_and_a_revised_prompt(gateway):
    body = {"model": "dall-e-3", "prompt": "a red fox", "size": "1792x1024"}
    answer = post(gateway, "/v1/images/generations", json=body).json()
    (item,) = answer["data"]
    assert item["revised_prompt"].startswith("A detailed, vivid illustration of a red fox")
    picture = httpx.get(item["url"], timeout=10)  # no key needed, like new-api's media
    assert picture.headers["content-type"] == "image/png"
    assert size_of(picture.content) == (1792, 1024)


def test_gpt_image_answers_only_b64_json_and_dall_e_2_when_asked(gateway):
    body = {"model": "gpt-image-1", "prompt": "a boat", "size": "1024x1536", "n": 2}
    items = post(gateway, "/v1/images/generations", json=body).json()["data"]
    assert len(items) == 2 and all("url" not in i and "revised_prompt" not in i for i in items)
    assert size_of(base64.b64decode(items[0]["b64_json"])) == (1024, 1536)
    assert items[0]["b64_json"] != items[1]["b64_json"]
    body = {
        "model": "dall-e-2",
        "prompt": "a boat",
        "size": "256x256",
        "response_format": "b64_json",
    }
    (item,) = post(gateway, "/v1/images/generations", json=body).json()["data"]
    assert size_of(base64.b64decode(item["b64_json"])) == (256, 256)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "dall-e-3", "prompt": ""}, 400, "invalid_image_request"),
        (
            {"model": "dall-e-3", "prompt": "x", "size": "1024\u00d71024"},
            400,
            "invalid_image_request",
        ),
        ({"model": "no-such-model", "prompt": "x"}, 503, None),
        (
            {"model": "dall-e-3", "prompt": "x [demo:http_403_quota]"},
            403,
            "insufficient_user_quota",
        ),
    ],
)
def test_refusals_come_in_new_apis_shape(gateway, body, status, code):
    response = post(gateway, "/v1/images/generations", json=body)
    assert response.status_code == status
    assert response.json()["error"].get("code") == code


def test_edits_work_or_answer_501_on_request(gateway):
    picture = httpx.get(
        post(gateway, "/v1/images/generations", json={"model": "dall-e-2", "prompt": "a"}).json()[
            "data"
        ][0]["url"]
    ).content
    fields = {"model": "gpt-image-1", "prompt": "add a hat", "size": "512x512"}
    files = {"image": ("fox.png", picture, "image/png")}
    answer = post(gateway, "/v1/images/edits", data=fields, files=files)
    assert answer.status_code == 200
    assert size_of(base64.b64decode(answer.json()["data"][0]["b64_json"])) == (512, 512)

    refused = post(gateway, "/v1/images/edits", data={**fields, "prompt": "x [demo:edits_501]"},
                   files=files)  # fmt: skip
    assert refused.status_code == 501
    assert refused.json()["error"]["code"] == "api_not_implemented"
    missing = post(gateway, "/v1/images/edits", data=fields, files={"x": ("x", b"", "text/plain")})
    assert missing.status_code == 400  # the probe's answer where the route exists
    unauthorised = httpx.post(gateway.base_url + "/v1/images/generations", json={}, timeout=10)
    assert unauthorised.status_code == 401
