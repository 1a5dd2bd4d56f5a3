"""The demo gateway's side of the gateway check: the cheap refusals the probes rely on, and a
gateway without some families (DEMO_GATEWAY_WITHOUT)."""

from __future__ import annotations

import httpx
import pytest

from demo_gateway import DemoGateway, start_in_thread
from demo_gateway.probe import FAMILIES, check_families
from gateway.probe import FAMILIES as PROBED_FAMILIES


@pytest.fixture
def without():
    gateways: list[DemoGateway] = []

    def start(*families: str) -> httpx.Client:
        demo = start_in_thread(token_delay=0.001, without=families)
        gateways.append(demo)
        return httpx.Client(
            base_url=demo.base_url,
            headers={"Authorization": f"Bearer {demo.api_key}"},
            timeout=5,
        )

    yield start
    for demo in gateways:
        demo.stop_thread()


def test_the_demo_knows_the_families_parlor_probes():
    assert FAMILIES == PROBED_FAMILIES
    assert check_families([" Images", "luma", ""]) == {"images", "luma"}
    with pytest.raises(ValueError, match="not a gateway family: imagez"):
        check_families(["imagez"])


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/images/generations", {"model": "dall-e-3", "prompt": ""}, "prompt is required"),
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": ""}, "input is empty"),
        ("/v1/audio/speech", {"model": "tts-1", "input": "", "voice": "alloy"}, "input is"),
        ("/v1/completions", {"model": "gpt-4o-mini"}, "field prompt is required"),
    ],
)
def test_a_request_without_its_input_is_refused_before_any_work(client, path, body, message):
    response = client.post(path, json=body)

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_a_multipart_request_without_its_file_is_refused(client):
    response = client.post(
        "/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"x": ("", b"")}
    )
    no_file = client.post(
        "/v1/audio/transcriptions",
        content=b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        b"--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )

    assert no_file.status_code == 400
    assert "file is required" in no_file.json()["error"]["message"]
    assert response.status_code == 400  # a file part named "x" is not "file"


def test_the_refusals_check_the_key_and_the_model_first(client, demo_gateway):
    anonymous = httpx.post(
        demo_gateway.base_url + "/v1/embeddings", json={"model": "x", "input": ""}
    )
    unknown = client.post("/v1/embeddings", json={"model": "nope", "input": ""})

    assert anonymous.status_code == 401
    assert unknown.status_code in (400, 503)  # refused, never answered with vectors
    assert "data" not in unknown.json()


def test_a_gateway_without_families_answers_like_new_api_without_those_routes(without):
    client = without("images", "midjourney", "luma", "prices", "embeddings")

    images = client.post("/v1/images/generations", json={"model": "dall-e-3", "prompt": ""})
    luma = client.get("/luma/generations/00000000-0000-0000-0000-000000000000")
    mj = client.post("/mj/task/list-by-condition", json={"ids": []})
    fast = client.post("/mj-fast/mj/submit/imagine", json={"prompt": "a fox"})
    prices = client.get("/api/pricing")
    models = [m["id"] for m in client.get("/v1/models").json()["data"]]
    suno = client.get("/suno/fetch/00000000-0000-0000-0000-000000000000")
    chat = client.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )

    assert images.status_code == 404 and "Invalid URL" in images.text
    assert prices.status_code == 404
    for page in (luma, mj, fast):
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "dall-e-3" not in models and "mj_imagine" not in models
    assert "text-embedding-3-small" not in models
    assert "gpt-4o-mini" in models and "whisper-1" in models and "suno_music" in models
    assert suno.status_code == 400 and suno.json()["code"] == "task_not_exist"
    assert chat.status_code == 200


def test_a_gateway_without_chat_lists_no_chat_model(without):
    client = without("chat")

    models = [m["id"] for m in client.get("/v1/models").json()["data"]]
    chat = client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})

    assert "gpt-4o-mini" not in models and "dall-e-3" in models
    assert chat.status_code == 404
