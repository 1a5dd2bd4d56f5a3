from __future__ import annotations

import logging
import time

import httpx
import pytest
from django.core.cache import cache

from gateway.catalogue import (
    FAILURE_CACHE_SECONDS,
    is_chat_model,
    is_instruct_model,
    list_chat_models,
    list_instruct_models,
    list_models,
    refresh_chat_models,
    wait_for_refresh,
)
from gateway.errors import GatewayBadResponse
from tests.gateway.fakes import respond, respond_json

NEW_API = {
    "success": True,
    "object": "list",
    "data": [
        {
            "id": "gpt-4o",
            "object": "model",
            "created": 1626777600,
            "owned_by": "custom",
            "supported_endpoint_types": ["openai"],
        },
        {"id": "claude-3-5-sonnet-20241022", "object": "model", "owned_by": "custom"},
        {"id": "mj_imagine", "object": "model"},
        {"id": "suno_music", "object": "model"},
        {"id": "dall-e-3", "object": "model"},
    ],
}
ONE_API = {
    "data": [
        {
            "id": "gpt-3.5-turbo",
            "object": "model",
            "owned_by": "openai",
            "root": "gpt-3.5-turbo",
            "parent": None,
            "permission": [{"id": "modelperm-1", "allow_sampling": True}],
        },
        {"id": "text-embedding-3-small", "object": "model", "permission": []},
    ],
}


def test_it_reads_model_ids_from_new_api(gateway):
    gateway.reply(respond_json(200, NEW_API))
    assert list_models() == [
        "claude-3-5-sonnet-20241022",
        "dall-e-3",
        "gpt-4o",
        "mj_imagine",
        "suno_music",
    ]
    assert gateway.requests[0].url == "https://gw.example/v1/models"


def test_it_reads_older_and_odd_shapes_defensively(gateway):
    gateway.reply(respond_json(200, ONE_API))
    assert list_models() == ["gpt-3.5-turbo", "text-embedding-3-small"]
    odd = {"data": [{"id": "b"}, {"id": None}, {"name": "c"}, "a", 3, {"id": "b"}, {"id": " "}]}
    gateway.reply(respond_json(200, odd))
    assert list_models() == ["a", "b"]
    gateway.reply(respond_json(200, {"success": False, "message": "x"}))
    assert list_models() == []


@pytest.mark.parametrize(
    "response",
    [
        respond(200, [b"<!doctype html><html>console</html>"], content_type="text/html"),
        respond(200, [b"not json"], content_type="application/json"),
    ],
)
def test_a_page_or_broken_json_is_a_bad_response(gateway, response):
    gateway.reply(response)
    with pytest.raises(GatewayBadResponse):
        list_models()


@pytest.mark.parametrize(
    "model_id",
    [
        "gpt-4o",
        "gpt-4o-mini",
        "claude-3-5-sonnet-20241022",
        "gemini-1.5-pro",
        "deepseek-reasoner",
        "gpt-4-gizmo-g-abc",
        "gpt-4o-all",
        "o3-mini",
        "Qwen2.5-72B-Instruct",
        "gpt-4o-audio-preview",
    ],
)
def test_chat_models_are_kept(model_id):
    assert is_chat_model(model_id)


@pytest.mark.parametrize(
    "model_id",
    [
        "mj_imagine",
        "mj_upscale",
        "swap_face",
        "suno_music",
        "suno_lyrics",
        "dall-e-3",
        "gpt-image-1",
        "tts-1-hd",
        "gpt-4o-mini-tts",
        "whisper-1",
        "gpt-4o-transcribe",
        "text-embedding-3-small",
        "luma_video_api",
        "stable-diffusion-xl",
        "flux-pro",
        "midjourney",
        "omni-moderation-latest",
        "text-moderation-stable",
        "MJ_IMAGINE",
        "gpt-4o-realtime-preview",
        "gpt-3.5-turbo-instruct",
    ],
)
def test_non_chat_models_are_hidden(model_id):
    assert not is_chat_model(model_id)


def _listed() -> list[str]:
    """What a page sees once the refresh it started has finished."""
    list_chat_models()
    wait_for_refresh()
    return list_chat_models()


def test_chat_models_are_filtered_and_cached(gateway):
    gateway.reply(lambda request: respond_json(200, NEW_API))
    assert list_chat_models() == []  # nothing cached yet: the page does not wait
    wait_for_refresh()
    assert list_chat_models() == ["claude-3-5-sonnet-20241022", "gpt-4o"]
    assert list_chat_models() == ["claude-3-5-sonnet-20241022", "gpt-4o"]
    assert len(gateway.requests) == 1


def test_a_stale_listing_is_shown_while_a_new_one_is_fetched(gateway, settings):
    gateway.reply(lambda request: respond_json(200, NEW_API))
    settings.GATEWAY_MODELS_CACHE_SECONDS = 0  # every listing is stale at once
    assert _listed() == ["claude-3-5-sonnet-20241022", "gpt-4o"]
    wait_for_refresh()  # _listed's second look found the listing stale and refreshed again
    gateway.reply(lambda request: respond_json(200, {"data": [{"id": "gpt-5"}]}))
    assert list_chat_models() == ["claude-3-5-sonnet-20241022", "gpt-4o"]
    wait_for_refresh()
    assert list_chat_models() == ["gpt-5"]


def test_the_cache_is_per_gateway(gateway, settings):
    gateway.reply(lambda request: respond_json(200, NEW_API))
    _listed()
    settings.GATEWAY_BASE_URL = "https://other.example"
    _listed()
    assert [r.url.host for r in gateway.requests] == ["gw.example", "other.example"]


def test_a_failure_gives_no_models_and_is_remembered_only_briefly(gateway, caplog):
    gateway.reply(respond_json(503, {"error": {"message": "无可用渠道", "type": "new_api_error"}}))
    with caplog.at_level(logging.WARNING, logger="gateway"):
        assert _listed() == []
    assert "Could not list gateway models" in caplog.text
    gateway.reply(respond_json(200, NEW_API))
    assert _listed() == []  # within FAILURE_CACHE_SECONDS: not asked again
    assert len(gateway.requests) == 1
    cache.clear()  # as when the short failure entry expires
    assert _listed() == ["claude-3-5-sonnet-20241022", "gpt-4o"]
    assert len(gateway.requests) == 2


def test_a_failure_keeps_the_last_listing_and_retries_after_a_short_while(gateway, monkeypatch):
    gateway.reply(respond_json(200, NEW_API))
    assert refresh_chat_models() == ["claude-3-5-sonnet-20241022", "gpt-4o"]
    stored = []
    real_set = cache.set
    monkeypatch.setattr(
        cache, "set", lambda key, value, timeout: stored.append(value) or real_set(key, value)
    )
    gateway.reply(respond_json(503, {"error": {"message": "x", "type": "new_api_error"}}))
    refresh_chat_models()
    [entry] = stored
    assert entry["models"] == ["claude-3-5-sonnet-20241022", "gpt-4o"]
    assert entry["fresh_until"] - time.time() <= FAILURE_CACHE_SECONDS
    assert list_chat_models() == ["claude-3-5-sonnet-20241022", "gpt-4o"]


def test_a_connection_failure_gives_no_models(gateway):
    gateway.raise_(httpx.ConnectError("refused"))
    assert _listed() == []


def test_an_unconfigured_gateway_gives_no_models(gateway, settings):
    settings.GATEWAY_BASE_URL = ""
    assert _listed() == []
    assert gateway.requests == []


def test_the_listing_has_a_short_timeout_of_its_own(gateway, settings):
    settings.GATEWAY_READ_TIMEOUT = 300
    gateway.reply(lambda request: respond_json(200, NEW_API))
    list_models()
    timeouts = gateway.requests[-1].extensions["timeout"]
    assert timeouts["read"] <= 5 and timeouts["connect"] <= 3


def test_a_malformed_gateway_url_gives_no_models_instead_of_an_error(gateway, settings):
    settings.GATEWAY_BASE_URL = "gw.example.com"  # no scheme

    assert _listed() == []
    assert gateway.requests == []


@pytest.mark.parametrize(
    "model_id",
    ["gpt-3.5-turbo-instruct", "gpt-3.5-turbo-instruct-0914", "davinci-002", "babbage-002"],
)
def test_openai_instruct_models_are_instruct_and_not_chat(model_id):
    assert is_instruct_model(model_id)
    assert not is_chat_model(model_id)


def test_an_open_instruct_model_is_offered_for_both():
    assert is_instruct_model("llama-3-8b-instruct")
    assert is_chat_model("llama-3-8b-instruct")


@pytest.mark.parametrize("model_id", ["gpt-4o", "Mistral-7B-Instruct-v0.2", "dall-e-3"])
def test_other_models_are_not_instruct(model_id):
    assert not is_instruct_model(model_id)


def test_instruct_models_come_from_the_same_cached_listing(gateway):
    listing = {"data": [{"id": "gpt-4o"}, {"id": "gpt-3.5-turbo-instruct"}, {"id": "babbage-002"}]}
    gateway.reply(lambda request: respond_json(200, listing))
    assert list_instruct_models() == []  # nothing cached yet: the page does not wait
    wait_for_refresh()
    assert list_instruct_models() == ["babbage-002", "gpt-3.5-turbo-instruct"]
    assert list_chat_models() == ["gpt-4o"]
    assert len(gateway.requests) == 1


def test_reading_instruct_models_without_refresh_never_asks_the_gateway(gateway):
    gateway.reply(lambda request: respond_json(200, {"data": [{"id": "babbage-002"}]}))
    assert list_instruct_models(refresh=False) == []
    wait_for_refresh()
    assert gateway.requests == []
