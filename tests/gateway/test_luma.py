"""gateway.luma: the LumaAI-API shapes (docs/gateway-api.md, Luma and Task lifecycles) over a
MockTransport, and a full lifecycle against the demo gateway."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway import luma
from gateway.errors import GatewayAuthError, GatewayBadResponse, GatewayTaskRejected
from gateway.tasks import FAILED, QUEUED, RUNNING, SUBMITTED, SUCCEEDED
from tests.gateway.fakes import respond, respond_json

PENDING = {
    "id": "a4a8",
    "prompt": "waves",
    "state": "pending",
    "created_at": "2024-06-18T14:47:43.318498Z",
    "video": None,
    "liked": None,
    "estimate_wait_seconds": None,
}
DONE = {
    **PENDING,
    "state": "completed",
    "video": {
        "url": "https://cdn.example/watermarked.mp4",
        "width": 1360,
        "thumbnail": "https://cdn.example/t.jpg",
        "download_url": "https://cdn.example/clean.mp4",
    },
    "thumbnail": {"url": "https://cdn.example/t.jpg"},
    "last_frame": {"url": "https://cdn.example/last.jpg"},
}


async def test_generate_sends_frames_aspect_and_loop(gateway):
    gateway.reply(respond_json(200, PENDING))

    submitted = await luma.submit(
        "waves",
        aspect_ratio="9:16",
        start_image="data:image/png;base64,AA",
        end_image="https://img.example/end.png",
        loop=True,
    )

    request = gateway.requests[0]
    assert request.url == "https://gw.example/luma/generations"
    assert json.loads(request.content) == {
        "user_prompt": "waves",
        "aspect_ratio": "9:16",
        "expand_prompt": False,
        "loop": True,
        "image_url": "data:image/png;base64,AA",
        "image_end_url": "https://img.example/end.png",
    }
    assert (submitted.task_id, submitted.description) == ("a4a8", "pending")


@pytest.mark.parametrize("response", [respond_json(201, PENDING), respond_json(200, [PENDING])])
async def test_a_201_or_a_one_element_array_is_accepted(gateway, response):
    gateway.reply(response)

    assert (await luma.submit("waves")).task_id == "a4a8"


async def test_extend_and_the_download_link(gateway):
    gateway.reply(lambda request: respond_json(200, {**PENDING, "id": "b1", "url": "https://x/v"}))

    extended = await luma.extend("a4a8", "more waves")
    url = await luma.download_url("a4a8")

    assert [r.url.path for r in gateway.requests] == [
        "/luma/generations/a4a8/extend",
        "/luma/generations/a4a8/download_video_url",
    ]
    assert json.loads(gateway.requests[0].content)["user_prompt"] == "more waves"
    assert (extended.task_id, url) == ("b1", "https://x/v")


@pytest.mark.parametrize(
    ("status", "body", "error", "message"),
    [
        (200, {"detail": "upstream error text"}, GatewayTaskRejected, "upstream error text"),
        (400, {"detail": {"reason": "bad prompt", "code": 1}}, GatewayTaskRejected, "bad prompt"),
        (401, {"detail": {"reason": "unauthorized secret token", "code": 1}}, GatewayAuthError, ""),
        (200, [], GatewayTaskRejected, ""),
    ],
)
async def test_errors_in_the_detail_shape(gateway, status, body, error, message):
    gateway.reply(respond_json(status, body))

    with pytest.raises(error) as caught:
        await luma.submit("waves")

    assert type(caught.value) is error
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("data", "status", "progress"),
    [
        ({**PENDING, "state": "queued"}, QUEUED, 0),
        (PENDING, SUBMITTED, 5),
        ({**PENDING, "state": "processing"}, RUNNING, 50),
        ({**PENDING, "state": "dreaming"}, RUNNING, 50),
        ({**PENDING, "state": "processing", "progress": "80%"}, RUNNING, 80),
        ({**DONE, "video": {"url": "https://cdn.example/watermarked.mp4"}}, RUNNING, 99),
        (DONE, SUCCEEDED, 100),
    ],
)
async def test_states_are_normalised(gateway, data, status, progress):
    gateway.reply(respond_json(200, data))

    task = await luma.fetch("a4a8")

    assert (task.status, task.progress) == (status, progress)


async def test_a_completed_task_has_the_clean_video_and_the_extras(gateway):
    gateway.reply(respond_json(200, DONE))

    task = await luma.fetch("a4a8")

    assert task.result_urls == ("https://cdn.example/clean.mp4",)
    assert task.extras["preview_url"] == "https://cdn.example/watermarked.mp4"
    assert task.extras["thumbnail_url"] == "https://cdn.example/t.jpg"
    assert task.extras["last_frame_url"] == "https://cdn.example/last.jpg"


async def test_the_newer_artifact_shape_is_read(gateway):
    artifact = {"video": {"url": "https://a/w.mp4"}, "video_raw": {"url": "https://a/raw.mp4"}}
    gateway.reply(respond_json(200, {**PENDING, "state": "completed", "artifact": artifact}))

    task = await luma.fetch("a4a8")

    assert task.status == SUCCEEDED
    assert task.result_urls == ("https://a/raw.mp4",)


async def test_a_failed_generation_is_a_failed_task(gateway):
    gateway.reply(respond_json(200, {**PENDING, "state": "failed", "failure_reason": "nsfw"}))

    task = await luma.fetch("a4a8")

    assert (task.status, task.fail_reason) == (FAILED, "nsfw")
    assert task.error is not None and "nsfw" in task.error.user_message


async def test_batch_fetch_and_a_gateway_without_luma(gateway):
    gateway.reply(lambda request: respond_json(200, [PENDING, DONE, {"no": "id"}]))
    assert [t.status for t in await luma.fetch_many(["a4a8", "x"])] == [SUBMITTED, SUCCEEDED]
    assert json.loads(gateway.requests[0].content) == {"ids": ["a4a8", "x"]}

    gateway.reply(respond(200, [b"<!doctype html>"], content_type="text/html"))
    with pytest.raises(GatewayBadResponse):
        await luma.fetch("a4a8")


# --- against the demo gateway ---------------------------------------------------------


async def test_a_full_lifecycle_on_the_demo_gateway(demo_gateway):
    now = [0.0]
    demo_gateway.media.clock = lambda: now[0]
    demo_gateway.media.duration = 10

    submitted = await luma.submit("waves at night", aspect_ratio="16:9")
    states = []
    for step in range(0, 24, 2):
        now[0] = float(step)
        task = await luma.fetch(submitted.task_id)
        states.append(task.raw_status)
    extended = await luma.extend(task.task_id, "and then a storm")
    clean = await luma.download_url(task.task_id)
    async with httpx.AsyncClient() as client:
        video = await client.get(task.result_urls[0])
        thumbnail = await client.get(task.extras["thumbnail_url"])

    assert states[0] == "pending" and "processing" in states and states[-1] == "completed"
    assert task.status == SUCCEEDED
    assert extended.task_id != task.task_id
    assert clean == task.result_urls[0]
    assert video.headers["content-type"] == "image/gif"
    assert video.content.startswith(b"GIF89a")
    assert thumbnail.content.startswith(b"\x89PNG")


async def test_demo_gateway_failure_and_batch(demo_gateway):
    demo_gateway.media.duration = 0

    failed = await luma.submit("[demo:fail] waves")
    fine = await luma.submit("waves [demo:luma_array]")

    tasks = await luma.fetch_many([failed.task_id, fine.task_id])
    assert [t.status for t in tasks] == [FAILED, SUCCEEDED]
    assert tasks[0].fail_reason
