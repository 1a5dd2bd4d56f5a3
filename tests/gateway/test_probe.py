"""gateway.probe: one cheap request per family, classified found / absent / unknown with the
status and a redacted excerpt as evidence; against httpx.MockTransport and the demo gateway."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from demo_gateway import start_in_thread
from gateway import midjourney, probe
from gateway.probe import ABSENT, FAMILIES, FOUND, UNKNOWN
from tests.gateway.fakes import API_KEY, respond, respond_json

CONSOLE = b"<!doctype html><html><head><title>New API</title></head><body></body></html>"
MODELS = {
    "success": True,
    "object": "list",
    "data": [
        {"id": model}
        for model in (
            "gpt-4o-mini",
            "claude-3-5-sonnet",
            "gpt-image-1",
            "whisper-1",
            "tts-1-hd",
            "text-embedding-3-large",
            "gpt-3.5-turbo-instruct",
            "mj_imagine",
            "suno_music",
        )
    ],
}
PRICES = {"success": True, "data": [{"model_name": "gpt-4o-mini", "quota_type": 0,
          "model_ratio": 0.075, "model_price": 0, "completion_ratio": 4}]}  # fmt: skip
# What a full new-api gateway answers each probe (by path prefix).
FULL: dict[str, tuple[int, Any]] = {
    "/v1/models": (200, MODELS),
    "/v1/images/generations": (400, {"error": {"message": "prompt is required"}}),
    "/v1/images/edits": (400, {"error": {"message": "image is required"}}),
    "/v1/audio/transcriptions": (400, {"error": {"message": "file is required"}}),
    "/v1/audio/translations": (400, {"error": {"message": "file is required"}}),
    "/v1/audio/speech": (400, {"error": {"message": "input is required"}}),
    "/v1/embeddings": (400, {"error": {"message": "input is empty"}}),
    "/v1/completions": (400, {"error": {"message": "field prompt is required"}}),
    "/mj/task/list-by-condition": (200, []),
    "/suno/fetch/": (400, {"code": "task_not_exist", "message": "task_not_exist", "data": None}),
    "/luma/generations/": (404, {"detail": "generation not found"}),
    "/api/pricing": (200, PRICES),
}
PROBED = {
    "images": "/v1/images/generations",
    "image_edits": "/v1/images/edits",
    "audio_transcription": "/v1/audio/transcriptions",
    "audio_translation": "/v1/audio/translations",
    "audio_speech": "/v1/audio/speech",
    "embeddings": "/v1/embeddings",
    "completions": "/v1/completions",
    "midjourney": "/mj/task/list-by-condition",
    "suno": "/suno/fetch/",
    "luma": "/luma/generations/",
    "prices": "/api/pricing",
}


def _gateway(gateway, overrides: dict[str, httpx.Response | Exception] | None = None) -> None:
    overrides = overrides or {}

    def matches(path: str, key: str) -> bool:  # a key ending in "/" is a prefix
        return path.startswith(key) if key.endswith("/") else path == key

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for key, answer in overrides.items():
            if matches(path, key):
                if isinstance(answer, Exception):
                    raise answer
                return answer
        for key, (status, body) in FULL.items():
            if matches(path, key):
                return respond_json(status, body)
        return respond(200, [CONSOLE], content_type="text/html; charset=utf-8")  # catch-all

    gateway.reply(handler)


def _states(findings: list[probe.Finding]) -> dict[str, str]:
    return {f.family: f.state for f in findings}


async def test_a_full_gateway_serves_every_family(gateway):
    _gateway(gateway)

    findings = await probe.check()

    assert [f.family for f in findings] == list(FAMILIES)
    assert _states(findings) == dict.fromkeys(FAMILIES, FOUND)
    images = findings[FAMILIES.index("images")]
    assert (images.request, images.status) == ("POST /v1/images/generations", 400)
    assert "prompt is required" in images.excerpt


@pytest.mark.parametrize("family", list(PROBED))
@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda: respond_json(404, {"error": {"message": "Invalid URL"}}), id="404"),
        pytest.param(
            lambda: respond_json(501, {"error": {"code": "api_not_implemented"}}), id="501"
        ),
        pytest.param(
            lambda: respond(200, [CONSOLE], content_type="text/html; charset=utf-8"),
            id="html-200",
        ),
        pytest.param(
            lambda: httpx.Response(301, headers={"location": "https://console.example/"}),
            id="redirect",
        ),
    ],
)
async def test_a_route_the_gateway_lacks_is_absent(gateway, family, answer):
    _gateway(gateway, {PROBED[family]: answer()})

    findings = _states(await probe.check())

    assert findings[family] == ABSENT
    assert {f for f, state in findings.items() if state != FOUND} == {family}


@pytest.mark.parametrize("family", list(PROBED))
async def test_no_answer_is_unknown_not_absent(gateway, family):
    _gateway(gateway, {PROBED[family]: httpx.ConnectError("connection refused")})

    [finding] = [f for f in await probe.check() if f.family == family]

    assert finding.state == UNKNOWN and finding.served
    assert finding.status is None
    assert "ConnectError" in finding.excerpt


@pytest.mark.parametrize("status", [401, 429, 500, 502, 503])
async def test_an_answer_that_says_nothing_about_the_route_is_unknown(gateway, status):
    _gateway(gateway, {"/v1/embeddings": respond_json(status, {"error": {"message": "busy"}})})

    [finding] = [f for f in await probe.check() if f.family == "embeddings"]

    assert (finding.state, finding.status) == (UNKNOWN, status)


async def test_a_timeout_is_unknown(gateway):
    _gateway(gateway, {"/suno/": httpx.ReadTimeout("slow")})

    assert _states(await probe.check())["suno"] == UNKNOWN


async def test_without_a_model_list_chat_is_absent_or_unknown(gateway):
    _gateway(gateway, {"/v1/models": respond(200, [CONSOLE], content_type="text/html")})
    assert _states(await probe.check())["chat"] == ABSENT

    _gateway(gateway, {"/v1/models": respond_json(200, {"data": [{"id": "dall-e-3"}]})})
    assert _states(await probe.check())["chat"] == ABSENT  # nothing to chat with

    _gateway(gateway, {"/v1/models": httpx.ConnectError("down")})
    assert _states(await probe.check())["chat"] == UNKNOWN


async def test_a_task_fetch_404_in_json_is_the_service_but_new_apis_own_404_is_not(gateway):
    _gateway(gateway, {"/luma/": respond_json(404, {"detail": "generation not found"})})
    assert _states(await probe.check())["luma"] == FOUND

    invalid = {"error": {"message": "Invalid URL (GET /luma/generations/x)", "code": ""}}
    _gateway(gateway, {"/luma/": respond_json(404, invalid)})
    assert _states(await probe.check())["luma"] == ABSENT


async def test_prices_need_a_price_list(gateway):
    _gateway(gateway, {"/api/pricing": respond_json(401, {"success": False, "message": "login"})})
    assert _states(await probe.check())["prices"] == ABSENT

    _gateway(gateway, {"/api/pricing": respond_json(200, {"success": False})})
    assert _states(await probe.check())["prices"] == ABSENT


async def test_probes_name_a_listed_model_of_their_family_and_send_no_real_input(gateway):
    _gateway(gateway)

    findings = {f.family: f for f in await probe.check()}

    sent = {r.url.path: r for r in gateway.requests}
    image = json.loads(sent["/v1/images/generations"].content)
    assert image == {"model": "gpt-image-1", "prompt": ""}
    assert json.loads(sent["/v1/embeddings"].content) == {
        "model": "text-embedding-3-large",
        "input": "",
    }
    assert json.loads(sent["/v1/audio/speech"].content)["input"] == ""
    assert "prompt" not in json.loads(sent["/v1/completions"].content)
    assert json.loads(sent["/mj/task/list-by-condition"].content) == {"ids": []}
    transcription = sent["/v1/audio/transcriptions"]
    assert transcription.headers["content-type"].startswith("multipart/form-data")
    assert b"whisper-1" in transcription.content and b"filename=" not in transcription.content
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in gateway.requests)
    assert findings["images"].details["models"] == ["gpt-image-1"]
    assert findings["audio_translation"].details["models"] == ["whisper-1"]
    assert "mj_imagine" not in findings["chat"].details["models"]
    assert findings["chat"].details["models"] == ["claude-3-5-sonnet", "gpt-4o-mini"]


async def test_each_probe_has_a_short_timeout(gateway):
    _gateway(gateway)

    await probe.check()

    timeouts = {r.extensions["timeout"]["read"] for r in gateway.requests}
    assert timeouts == {probe.TIMEOUT.read} and probe.TIMEOUT.read <= 10


async def test_the_evidence_never_carries_the_key(gateway):
    echo = {"error": {"message": f"bad token {API_KEY} or {API_KEY.removeprefix('sk-')}"}}
    _gateway(
        gateway,
        {
            "/v1/embeddings": respond_json(400, echo),
            "/suno/": httpx.ConnectError(f"refused for {API_KEY}"),
        },
    )

    findings = {f.family: f for f in await probe.check()}

    for finding in findings.values():
        assert API_KEY.removeprefix("sk-") not in finding.excerpt
    assert "[redacted]" in findings["embeddings"].excerpt
    assert "[redacted]" in findings["suno"].excerpt


async def test_the_excerpt_is_short_and_on_one_line(gateway):
    page = b"<!doctype html>\n<html>\n" + b"<p>console</p>\n" * 200 + b"</html>"
    _gateway(gateway, {"/luma/": respond(200, [page], content_type="text/html")})

    [luma] = [f for f in await probe.check() if f.family == "luma"]

    assert luma.state == ABSENT and luma.status == 200
    assert len(luma.excerpt) <= probe.EXCERPT_CHARS and "\n" not in luma.excerpt
    assert luma.excerpt.startswith("<!doctype html>")


async def test_midjourneys_optional_routes_come_with_its_finding(gateway):
    _gateway(
        gateway,
        {
            "/mj/task/list": respond(200, [CONSOLE], content_type="text/html"),
            "/mj/task/queue": respond_json(200, []),
            "/mj/task/0/cancel": respond_json(400, {"description": "task_no_found", "code": 4}),
        },
    )

    findings = {f.family: f for f in await probe.check()}

    assert findings["midjourney"].details["features"] == {
        "task_list": False,
        "queue": True,
        "cancel": True,
    }
    assert await midjourney.features() == midjourney.Features(False, True, True)


async def test_an_absent_midjourney_asks_for_no_optional_route(gateway):
    _gateway(gateway, {"/mj/": respond(200, [CONSOLE], content_type="text/html")})

    findings = {f.family: f for f in await probe.check()}

    assert findings["midjourney"].details["features"] == dict.fromkeys(
        ("task_list", "queue", "cancel"), False
    )
    assert [r.url.path for r in gateway.requests if r.url.path.startswith("/mj")] == [
        "/mj/task/list-by-condition"
    ]


async def test_suno_is_probed_in_the_configured_format(gateway, settings):
    settings.SUNO_API_FORMAT = "goamz"
    _gateway(gateway, {"/suno/v1/music/": respond_json(404, {"code": 404, "message": "nf"})})

    findings = {f.family: f for f in await probe.check()}

    assert findings["suno"].request.startswith("GET /suno/v1/music/")
    assert findings["suno"].state == FOUND


async def test_an_unusable_address_makes_everything_unknown(settings):
    settings.GATEWAY_BASE_URL = ""

    findings = await probe.check()

    assert {f.state for f in findings} == {UNKNOWN}
    assert "GATEWAY_BASE_URL" in findings[0].excerpt


# --- against the demo gateway ------------------------------------------------------------


async def test_the_demo_gateway_serves_every_family(demo_gateway):
    findings = {f.family: f for f in await probe.check()}

    assert {family: f.state for family, f in findings.items()} == dict.fromkeys(FAMILIES, FOUND)
    assert findings["luma"].status == 404  # its own "generation not found"
    assert findings["midjourney"].details["features"]["cancel"] is False
    assert "gpt-4o-mini" in findings["chat"].details["models"]


async def test_a_demo_gateway_without_some_families_answers_as_new_api_would(settings):
    absent = {"images", "luma", "midjourney", "prices", "audio_speech"}
    demo = start_in_thread(token_delay=0.001, without=sorted(absent))
    settings.GATEWAY_BASE_URL, settings.GATEWAY_API_KEY = demo.base_url, demo.api_key
    try:
        findings = {f.family: f for f in await probe.check()}
    finally:
        demo.stop_thread()

    assert {family for family, f in findings.items() if f.state == ABSENT} == absent
    assert (findings["images"].status, findings["luma"].status) == (404, 200)
    assert findings["luma"].excerpt.lower().startswith("<!doctype html>")
    assert "tts-1" not in json.dumps(findings["chat"].details)


async def test_the_probes_run_at_once(settings):
    """Fifteen requests, each answered 0.3 s late: the check takes about three answers' time
    (the model list; every family together; Midjourney's optional routes), not fifteen."""
    import asyncio
    import time

    from gateway.client import use_transport

    settings.GATEWAY_BASE_URL = "https://gw.example"

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.3)
        for key, (status, body) in FULL.items():
            if request.url.path.startswith(key):
                return respond_json(status, body)
        return respond(200, [CONSOLE], content_type="text/html")

    with use_transport(httpx.MockTransport(slow)):
        started = time.monotonic()
        findings = await probe.check()
        elapsed = time.monotonic() - started

    assert _states(findings)["images"] == FOUND
    assert elapsed < 2.5
