"""gateway.images without a network: every item accepted as url or b64_json, b64 held to a
download's rules, and n = 1 for dall-e-3."""

from __future__ import annotations

import base64

import pytest

from gateway import images
from gateway.download import DownloadRefused
from gateway.errors import GatewayBadResponse

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_items_come_as_url_or_b64_json_with_their_revised_prompt():
    result = images.parse_result({"created": 1, "data": [
        {"url": "https://cdn.example/a.png", "b64_json": "", "revised_prompt": "A fox"},
        {"url": "", "b64_json": b64(PNG)},
        {"b64_json": "data:image/png;base64," + b64(PNG)},
    ]})  # fmt: skip
    first, second, third = result.items
    assert (first.url, first.data, first.revised_prompt) == (
        "https://cdn.example/a.png",
        b"",
        "A fox",
    )
    assert second.data == PNG and second.content_type == "image/png" and not second.url
    assert third.data == PNG


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"data": []}, images.NoImages),
        ({"data": [{"url": "", "b64_json": ""}]}, images.NoImages),
        ({"error": "x"}, GatewayBadResponse),
        ({"data": [{"b64_json": b64(b"<html>no</html>")}]}, DownloadRefused),
        ({"data": [{"b64_json": b64(PNG + b"\x00" * 200)}]}, DownloadRefused),  # over the cap
    ],
)
def test_bad_answers_are_refused(data, error):
    with pytest.raises(error):
        images.parse_result(data, limit=100)


@pytest.mark.parametrize(
    ("model", "asked", "sent"),
    [("dall-e-3", 4, 1), ("DALL-E-3", 1, 1), ("dall-e-2", 3, 3), ("gpt-image-1", 0, 1),
     ("flux.1.1-pro", 99, 10)],
)  # fmt: skip
def test_dall_e_3_is_always_sent_one(model, asked, sent):
    assert images.images_sent(model, asked) == sent
