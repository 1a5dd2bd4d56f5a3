"""Routes, auth, error envelopes and scenario selection (docs/gateway-api.md:
Common, Models, Fake gateway)."""

from __future__ import annotations

import json

import httpx
import pytest

from demo_gateway import DemoGateway, demo_reply
from demo_gateway.scenarios import CHAT_MODELS, NON_CHAT_MODELS

from .conftest import chat_body, deltas


def test_models_list_has_the_new_api_shape(client):
    response = client.get("/v1/models")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["success"] is True
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids[0] == "gpt-4o-mini"
    assert set(ids) == set(CHAT_MODELS) | set(NON_CHAT_MODELS)
    assert body["data"][0] == {
        "id": "gpt-4o-mini",
        "object": "model",
        "created": 1626777600,
        "owned_by": "custom",
        "supported_endpoint_types": ["openai"],
    }


def test_models_legacy_shape_and_single_model(client):
    legacy = client.get("/v1/models", headers={"X-Demo-Scenario": "models_legacy"}).json()
    one = client.get("/v1/models/gpt-4o")
    missing = client.get("/v1/models/nope")

    assert "object" not in legacy
    assert legacy["data"][0]["root"] == "gpt-4o-mini"
    assert one.json()["id"] == "gpt-4o"
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


def test_non_stream_chat_is_a_full_completion(client):
    response = client.post("/v1/chat/completions", json=chat_body("hello there", stream=False))

    body = response.json()
    assert response.status_code == 200
    assert body["id"] == "chatcmpl-" + response.headers["x-oneapi-request-id"]
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == demo_reply("hello there")
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_non_stream_suno_quirk_puts_text_in_delta(client):
    body = chat_body("[demo:no_role_no_finish]", stream=False)
    choice = client.post("/v1/chat/completions", json=body).json()["choices"][0]

    assert "message" not in choice
    assert choice["delta"]["content"].startswith("请求已受理")


def test_non_stream_cut_truncates_the_body(client):
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat_body("[demo:cut]", stream=False))


@pytest.mark.parametrize(
    ("scenario", "status", "error"),
    [
        ("http_401", 401, {"type": "new_api_error"}),
        (
            "http_403_quota",
            403,
            {"type": "new_api_error", "param": "", "code": "insufficient_user_quota"},
        ),
        ("http_429", 429, {"type": "new_api_error"}),
        ("http_500", 500, {"type": "new_api_error", "param": "", "code": "get_channel_failed"}),
        ("http_503", 503, {"type": "new_api_error"}),
    ],
)
def test_shape_a_errors_even_when_streaming_was_asked(client, scenario, status, error):
    response = client.post(
        "/v1/chat/completions", json=chat_body(), headers={"X-Demo-Scenario": scenario}
    )

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()["error"]
    request_id = response.headers["x-oneapi-request-id"]
    assert body.pop("message").endswith(f" (request id: {request_id})")
    assert body == error


def test_chinese_messages_for_429_and_503(client):
    too_many = client.post("/v1/chat/completions", json=chat_body("[demo:http_429]"))
    no_channel = client.post("/v1/chat/completions", json=chat_body("[demo:http_503]"))

    assert too_many.json()["error"]["message"].startswith("您已达到请求数限制")
    assert "gpt-4o-mini 无可用渠道" in no_channel.json()["error"]["message"]


def test_429_with_empty_body(client):
    response = client.post("/v1/chat/completions", json=chat_body("[demo:http_429_empty]"))

    assert response.status_code == 429
    assert response.content == b""
    assert "content-type" not in response.headers
    assert response.headers["x-oneapi-request-id"]


def test_502_html_page_and_html_200(client):
    bad_gateway = client.post("/v1/chat/completions", json=chat_body("[demo:http_502_html]"))
    console = client.post("/v1/chat/completions", json=chat_body("[demo:html_200]"))

    assert bad_gateway.status_code == 502
    assert bad_gateway.headers["content-type"] == "text/html"
    assert b"<h1>502 Bad Gateway</h1>" in bad_gateway.content
    assert console.status_code == 200
    assert console.headers["content-type"] == "text/html; charset=utf-8"
    assert b'<div id="root"></div>' in console.content


def test_timeout_scenario_outlasts_the_client(client):
    with pytest.raises(httpx.ReadTimeout):
        client.post(
            "/v1/chat/completions", json=chat_body("[demo:timeout]"), timeout=httpx.Timeout(0.2)
        )


@pytest.mark.parametrize(
    ("authorization", "message"),
    [(None, "未提供令牌"), ("Bearer sk-wrong", "无效的令牌"), ("sk-demo", "无效的令牌")],
)
def test_auth_failures(demo_gateway, authorization, message):
    headers = {"Authorization": authorization} if authorization else {}
    response = httpx.post(
        demo_gateway.base_url + "/v1/chat/completions", json=chat_body(), headers=headers
    )

    assert response.status_code == 401
    request_id = response.headers["x-oneapi-request-id"]
    assert response.json() == {
        "error": {"message": f"{message} (request id: {request_id})", "type": "new_api_error"}
    }


def test_sk_prefix_is_optional_like_new_api(demo_gateway):
    response = httpx.get(
        demo_gateway.base_url + "/v1/models", headers={"Authorization": "Bearer demo"}
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/x"), ("GET", "/v1/chat/completions"), ("POST", "/v1/v1/chat/completions")],
)
def test_unknown_paths_under_v1_are_404_json(client, method, path):
    response = client.request(method, path, json={})

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": f"Invalid URL ({method} {path})",
            "type": "invalid_request_error",
            "param": "",
            "code": "",
        }
    }


@pytest.mark.parametrize("path", ["/chat/completions", "/suno/submit/video", "/mj/task/list"])
def test_other_unknown_paths_get_the_console_page(demo_gateway, path):
    response = httpx.post(demo_gateway.base_url + path, json=chat_body())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!doctype html>")


def test_unknown_model_and_unknown_scenario(client):
    no_channel = client.post("/v1/chat/completions", json={**chat_body(), "model": "gpt-9"})
    typo = client.post("/v1/chat/completions", json=chat_body("[demo:nromal]"))

    assert no_channel.status_code == 503
    assert "gpt-9" in no_channel.json()["error"]["message"]
    assert typo.status_code == 400
    assert "nromal" in typo.json()["error"]["message"]


def test_scenario_selection_order(client, demo_gateway):
    demo_gateway.scenario = "http_500"

    by_default = client.post("/v1/chat/completions", json=chat_body("plain"))
    by_marker = client.post("/v1/chat/completions", json=chat_body("[demo:http_429] x"))
    by_header = client.post(
        "/v1/chat/completions",
        json=chat_body("[demo:http_429] x"),
        headers={"X-Demo-Scenario": "http_403_quota"},
    )

    assert [by_default.status_code, by_marker.status_code, by_header.status_code] == [500, 429, 403]


def test_marker_only_counts_in_the_last_user_message(client):
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [
            {"role": "user", "content": "[demo:http_500]"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "[demo:length] go"}]},
        ],
    }
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        raw = response.read()

    assert response.status_code == 200
    assert b'"finish_reason":"length"' in raw
    assert "".join(d.get("content", "") for d in deltas(raw)).startswith("Hello! You asked: “go”")


def test_requests_are_recorded(client, demo_gateway):
    body = chat_body("hi", stream_options={"include_usage": True})
    client.post("/v1/chat/completions", json=body, headers={"X-Trace": "1"}).read()
    client.get("/v1/models?x=1")

    chat, models = demo_gateway.requests
    assert (chat.method, chat.path, chat.json) == ("POST", "/v1/chat/completions", body)
    assert chat.headers["authorization"] == "Bearer sk-demo"
    assert chat.headers["x-trace"] == "1"
    assert json.loads(chat.body) == body
    assert (models.method, models.path, models.query, models.json) == (
        "GET",
        "/v1/models",
        "x=1",
        None,
    )
    assert demo_gateway.last_request is models


def test_keep_alive_serves_several_requests_on_one_connection(client, demo_gateway):
    for _ in range(3):
        client.post("/v1/chat/completions", json=chat_body("[demo:fixed_tokens:2]")).read()

    assert len(demo_gateway.requests) == 3
    assert len({r.peer for r in demo_gateway.requests}) == 1


async def test_runs_on_the_callers_event_loop():
    gateway = DemoGateway(token_delay=0, api_key="sk-x")
    await gateway.start()
    try:
        async with httpx.AsyncClient(base_url=gateway.base_url) as client:
            response = await client.get("/v1/models", headers={"Authorization": "Bearer sk-x"})
    finally:
        await gateway.stop()

    assert response.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(gateway.base_url + "/v1/models")
