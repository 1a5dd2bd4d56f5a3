from __future__ import annotations

import json
from urllib.parse import quote, quote_plus, unquote_plus

import httpx
import pytest

from gateway.errors import (
    GatewayAuthError,
    GatewayBadResponse,
    GatewayConnectionLost,
    GatewayError,
    GatewayQuotaError,
    GatewayRateLimited,
    GatewayTimeout,
    GatewayUnavailable,
    error_from_exception,
    error_from_response,
)
from tests.gateway.fakes import API_KEY

JSON = "application/json"


def openai_error(message: str, code: object = None, type_: str = "new_api_error") -> bytes:
    return json.dumps({"error": {"message": message, "type": type_, "code": code}}).encode()


@pytest.mark.parametrize(
    ("status", "content_type", "body", "cls"),
    [
        (401, JSON, openai_error("无效的令牌 (request id: 20240523)"), GatewayAuthError),
        (403, JSON, openai_error("该令牌无权访问模型 gpt-4"), GatewayAuthError),
        (403, JSON, openai_error("用户额度不足", "insufficient_user_quota"), GatewayQuotaError),
        (403, JSON, openai_error("x", "pre_consume_token_quota_failed"), GatewayQuotaError),
        (403, JSON, openai_error("x", None, "insufficient_quota"), GatewayQuotaError),
        (403, JSON, b'{"code":"quota_not_enough","message":"no","data":null}', GatewayQuotaError),
        (402, "", b"", GatewayQuotaError),
        (429, JSON, openai_error("当前分组上游负载已饱和"), GatewayRateLimited),
        (429, "", b"", GatewayRateLimited),
        (404, JSON, openai_error("Invalid URL (POST /v1/chat)", ""), GatewayUnavailable),
        (500, JSON, openai_error("get_channel_failed", "get_channel_failed"), GatewayUnavailable),
        (502, "text/html", b"<html><body>502 Bad Gateway</body></html>", GatewayUnavailable),
        (503, JSON, openai_error("当前分组 default 下对于模型 x 无可用渠道"), GatewayUnavailable),
        (
            200,
            "text/html; charset=utf-8",
            b"<!doctype html><title>New API</title>",
            GatewayBadResponse,
        ),
        (301, "", b"", GatewayBadResponse),
        (400, JSON, openai_error("invalid_text_request", 400), GatewayError),
    ],
)
def test_it_maps_status_and_code(status, content_type, body, cls):
    error = error_from_response(status, content_type, body)
    assert type(error) is cls
    assert error.status == status
    assert error.user_message


def test_it_reads_every_error_shape():
    shapes = [
        openai_error("from error.message"),
        b'{"description": "from description ", "type": "upstream_error", "code": 4}',
        b'{"code": "task_not_exist", "message": "from message", "data": null}',
        b'{"detail": {"reason": "from detail.reason", "code": 1}}',
        b'{"detail": "from detail"}',
    ]
    for body in shapes:
        error = error_from_response(400, JSON, body)
        assert error.message.startswith("from "), body
        assert error.user_message == f"The gateway reported an error: {error.message}"


def test_it_falls_back_to_the_status_for_unreadable_bodies():
    error = error_from_response(400, "text/plain", b"nope")
    assert error.message == ""
    assert error.user_message == "The gateway reported an error."
    assert "nope" in error.detail
    assert str(error).startswith("HTTP 400")


def test_it_strips_the_request_id_and_truncates():
    error = error_from_response(500, JSON, openai_error("x" * 500 + " (request id: 2024abc)"))
    assert "request id" not in error.message
    assert len(error.message) == 200
    assert error.message.endswith("…")
    error = error_from_response(503, JSON, openai_error("无可用渠道 (request id: 20240523123)"))
    assert error.user_message == "The gateway is unavailable right now: 无可用渠道"


def test_user_messages_name_the_likely_fix():
    assert error_from_response(401, JSON, b"").user_message == (
        "The gateway rejected Parlor's API key."
    )
    assert "GATEWAY_BASE_URL" in error_from_response(200, "text/html", b"<html>").user_message
    assert "GATEWAY_BASE_URL" in error_from_response(404, JSON, b"{}").user_message
    assert error_from_response(429, "", b"").user_message == (
        "The gateway is rate limiting requests; try again in a moment."
    )


def test_it_never_repeats_the_api_key(settings):
    settings.GATEWAY_API_KEY = API_KEY
    bare = API_KEY.removeprefix("sk-")
    for leaked in (API_KEY, bare):
        error = error_from_response(401, JSON, openai_error(f"无效的令牌 {leaked}"))
        for text in (str(error), error.detail, error.message, error.user_message):
            assert bare not in text
        error = error_from_response(400, JSON, openai_error(f"bad token {leaked}"))
        assert bare not in error.user_message
        assert "[redacted]" in error.user_message


@pytest.mark.parametrize(
    ("exc", "mid_stream", "cls"),
    [
        (httpx.ConnectError("refused"), False, GatewayUnavailable),
        (httpx.ConnectTimeout("slow"), False, GatewayTimeout),
        (httpx.ReadTimeout("slow"), True, GatewayTimeout),
        (httpx.RemoteProtocolError("closed"), False, GatewayUnavailable),
        (httpx.RemoteProtocolError("closed"), True, GatewayConnectionLost),
        (httpx.ReadError("reset"), True, GatewayConnectionLost),
        (httpx.DecodingError("gzip"), True, GatewayBadResponse),
    ],
)
def test_it_maps_httpx_failures(exc, mid_stream, cls):
    assert type(error_from_exception(exc, mid_stream=mid_stream)) is cls


@pytest.mark.parametrize(
    "echo",
    [
        str.upper,
        str.lower,
        lambda key: key.removeprefix("sk-").upper(),
        lambda key: key.swapcase(),
        lambda key: quote(key, safe=""),
        lambda key: quote_plus(key).upper(),
    ],
)
def test_the_key_is_redacted_in_any_case_or_url_encoding(settings, caplog, echo):
    settings.GATEWAY_API_KEY = "sk-Test/Key+With-Mixed-Case-0123456789"
    leaked = echo(settings.GATEWAY_API_KEY)
    body = openai_error(f"invalid token {leaked} (request id: 1)")
    error = error_from_response(401, JSON, body)
    bare = settings.GATEWAY_API_KEY.removeprefix("sk-").lower()
    for text in (str(error), error.detail, error.message, error.user_message):
        assert bare not in unquote_plus(text).lower()
    assert "[redacted]" in error.detail
