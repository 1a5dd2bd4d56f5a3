"""gateway.suno: the new-api and GoAmz formats (docs/gateway-api.md, Suno and Task lifecycles)
over a MockTransport, and a full lifecycle in both formats against the demo gateway."""

from __future__ import annotations

import io
import json
import wave
from datetime import UTC, datetime

import httpx
import pytest

from gateway import suno
from gateway.errors import (
    GatewayFeatureMissing,
    GatewayQuotaError,
    GatewayTaskNotFound,
    GatewayTaskRejected,
)
from gateway.tasks import FAILED, QUEUED, RUNNING, SUBMITTED, SUCCEEDED
from tests.gateway.fakes import respond_json

CLIP = {
    "id": "e989",
    "title": "Electric Dance Party",
    "status": "complete",
    "audio_url": "https://cdn1.suno.ai/e989.mp3",
    "image_url": "https://cdn1.suno.ai/image_e989.png",
    "image_large_url": "https://cdn1.suno.ai/image_large_e989.png",
    "video_url": "",
    "metadata": {"tags": "edm", "prompt": "[Verse] la la", "duration": 121.5},
}
TASK = {
    "task_id": "346c",
    "action": "MUSIC",
    "status": "SUCCESS",
    "fail_reason": "",
    "submit_time": 1716191749,
    "finish_time": 0,
    "progress": "100%",
    "data": [CLIP, {**CLIP, "id": "f00d", "audio_url": "https://cdn1.suno.ai/f00d.mp3"}],
}


def ok(data) -> httpx.Response:
    return respond_json(200, {"code": "success", "message": "", "data": data})


def body_of(request: httpx.Request) -> dict:
    return json.loads(request.content)


async def test_inspiration_custom_and_continue_bodies(gateway):
    gateway.reply(lambda request: ok("736a"))

    first = await suno.submit(description="a song about tea", instrumental=True)
    await suno.submit(prompt="[Verse] hi", title="Hi", tags="punk", model="chirp-v4")
    await suno.submit(
        prompt="[Verse] more", continue_task_id="346c", continue_clip_id="e989", continue_at=60
    )

    assert first.task_id == "736a"
    assert [r.url.path for r in gateway.requests] == ["/suno/submit/music"] * 3
    assert [body_of(r) for r in gateway.requests] == [
        {"make_instrumental": True, "gpt_description_prompt": "a song about tea"},
        {
            "make_instrumental": False,
            "prompt": "[Verse] hi",
            "title": "Hi",
            "tags": "punk",
            "mv": "chirp-v4",
        },
        {
            "make_instrumental": False,
            "prompt": "[Verse] more",
            "title": "",
            "tags": "",
            "task_id": "346c",
            "continue_clip_id": "e989",
            "continue_at": 60,
        },
    ]


@pytest.mark.parametrize("code", ["success", 1, 200, "SUCCESS"])
async def test_resellers_success_codes_are_accepted(gateway, code):
    gateway.reply(respond_json(200, {"code": code, "data": "abc"}))

    assert (await suno.submit_lyrics("tea")).task_id == "abc"
    assert body_of(gateway.requests[0]) == {"prompt": "tea"}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, {"code": "invalid_request", "message": "prompt_empty", "data": None}, None),
        (200, {"code": "success", "message": "", "data": None}, None),
        (200, {"code": 500, "message": "upstream error"}, None),
        (400, {"code": "invalid_request", "message": "task id is empty", "data": None}, None),
        (400, {"code": "task_not_exist", "message": "task_origin_not_exist"}, GatewayTaskNotFound),
        (403, {"code": "quota_not_enough", "message": "quota_not_enough"}, GatewayQuotaError),
    ],
)
async def test_logical_and_gateway_errors(gateway, status, body, error):
    gateway.reply(respond_json(status, body))

    with pytest.raises(GatewayTaskRejected if error is None else error) as caught:
        await suno.submit(prompt="x")

    if error is None:
        assert type(caught.value) is GatewayTaskRejected
        assert caught.value.user_message.startswith("The gateway refused the task")


async def test_fetch_reads_clips_with_audio_covers_and_lyrics(gateway):
    gateway.reply(ok(TASK))

    task = await suno.fetch("346c")

    assert gateway.requests[0].url.path == "/suno/fetch/346c"
    assert task.status == SUCCEEDED and task.progress == 100
    assert task.result_urls == ("https://cdn1.suno.ai/e989.mp3", "https://cdn1.suno.ai/f00d.mp3")
    clip = task.extras["clips"][0]
    assert clip["image_url"] == "https://cdn1.suno.ai/image_large_e989.png"
    assert (clip["lyrics"], clip["tags"], clip["duration"]) == ("[Verse] la la", "edm", 121.5)
    assert task.extras["submitted_at"] == datetime(2024, 5, 20, 7, 55, 49, tzinfo=UTC)  # s
    assert task.extras["finished_at"] is None


@pytest.mark.parametrize(
    ("status", "data", "expected"),
    [
        ("NOT_START", None, QUEUED),
        ("", None, QUEUED),
        ("SUBMITTED", [], SUBMITTED),
        ("QUEUED", [], QUEUED),
        ("IN_PROGRESS", [{**CLIP, "status": "streaming"}], RUNNING),
        ("UNKNOWN", None, FAILED),
        ("FAIL", None, FAILED),
    ],
)
async def test_statuses_are_normalised_and_urls_only_come_on_success(
    gateway, status, data, expected
):
    gateway.reply(ok({**TASK, "status": status, "progress": "0%", "data": data}))

    task = await suno.fetch("346c")

    assert task.status == expected
    assert task.result_urls == ()


async def test_a_failed_task_takes_its_reason_from_the_clip(gateway):
    broken = {**CLIP, "status": "error", "metadata": {"error_message": "lyrics rejected"}}
    gateway.reply(ok({**TASK, "status": "FAILURE", "data": [broken]}))

    task = await suno.fetch("346c")

    assert task.fail_reason == "lyrics rejected"
    assert task.error is not None
    assert task.error.user_message == "The task failed at the gateway: lyrics rejected"


async def test_lyrics_tasks_and_batch_fetch(gateway):
    lyrics = {**TASK, "action": "LYRICS", "data": {"id": "l1", "title": "T", "text": "[Verse]"}}
    gateway.reply(lambda request: ok([lyrics, "junk"]))

    tasks = await suno.fetch_many(["346c", "gone"])

    assert gateway.requests[0].url.path == "/suno/fetch"
    assert body_of(gateway.requests[0]) == {"ids": ["346c", "gone"]}
    assert tasks[0].extras["lyrics"] == {"id": "l1", "title": "T", "text": "[Verse]"}
    assert len(tasks) == 1
    assert await suno.fetch_many([]) == []


async def test_goamz_format_generate_and_fetch(gateway, settings):
    settings.SUNO_API_FORMAT = "goamz"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return respond_json(200, {"code": 200, "data": {"task_id": "56ea"}, "message": "ok"})
        clips = {"b6cd": {**CLIP, "id": "b6cd"}}
        data = {"task_id": "56ea", "status": "completed", "input": "{}", "clips": clips}
        return respond_json(200, {"code": 200, "data": data, "message": "success"})

    gateway.reply(handler)

    submitted = await suno.submit(description="rain on a roof")
    task = await suno.fetch("56ea")
    many = await suno.fetch_many(["56ea", "56ea"])

    assert body_of(gateway.requests[0]) == {
        "custom_mode": False,
        "input": {"make_instrumental": False, "gpt_description_prompt": "rain on a roof"},
    }
    assert [r.url.path for r in gateway.requests[:2]] == ["/suno/v1/music", "/suno/v1/music/56ea"]
    assert submitted.task_id == "56ea"
    assert task.status == SUCCEEDED
    assert task.result_urls == ("https://cdn1.suno.ai/e989.mp3",)
    assert len(many) == 2
    with pytest.raises(GatewayFeatureMissing):
        await suno.submit_lyrics("tea")


async def test_goamz_errors_use_error_message(gateway, settings):
    settings.SUNO_API_FORMAT = "goamz"
    gateway.reply(respond_json(200, {"code": 500, "message": "fail", "error_message": "no credit"}))

    with pytest.raises(GatewayTaskRejected) as caught:
        await suno.submit(prompt="[Verse]")

    assert caught.value.message == "no credit"


# --- against the demo gateway ---------------------------------------------------------


@pytest.mark.parametrize("api_format", ["newapi", "goamz"])
async def test_a_full_lifecycle_on_the_demo_gateway(demo_gateway, settings, api_format):
    settings.SUNO_API_FORMAT = api_format
    now = [0.0]
    demo_gateway.media.clock = lambda: now[0]
    demo_gateway.media.duration = 10

    submitted = await suno.submit(prompt="[Verse] tea time", title="Tea", tags="lofi")
    statuses = []
    for step in range(17):
        now[0] = step * 1.0
        task = await suno.fetch(submitted.task_id)
        statuses.append(task.status)
    async with httpx.AsyncClient() as client:
        audio = await client.get(task.result_urls[0])
        cover = await client.get(task.extras["clips"][0]["image_url"])

    assert statuses[0] in (QUEUED, SUBMITTED)
    assert RUNNING in statuses and statuses[-1] == SUCCEEDED
    assert task.extras["clips"][0]["title"] == "Tea"
    assert audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as wav:
        assert wav.getnframes() / wav.getframerate() >= 2
    assert cover.content.startswith(b"\x89PNG")


async def test_demo_gateway_failures_and_batches(demo_gateway):
    demo_gateway.media.duration = 0

    failed = await suno.submit(description="[demo:fail] a broken song")
    lyrics = await suno.submit_lyrics("tea")
    tasks = await suno.fetch_many([failed.task_id, lyrics.task_id, "gone"])

    assert [t.status for t in tasks] == [FAILED, SUCCEEDED]
    assert tasks[0].fail_reason
    assert "tea" in tasks[1].extras["lyrics"]["text"]
    with pytest.raises(GatewayTaskNotFound):
        await suno.fetch("gone")
    with pytest.raises(GatewayTaskNotFound):
        await suno.submit(prompt="x", continue_task_id="gone", continue_clip_id="c")
    with pytest.raises(GatewayQuotaError):
        await suno.submit(description="[demo:quota] tea")
