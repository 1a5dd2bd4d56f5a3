"""gateway.midjourney: the wire shapes and quirks of docs/gateway-api.md (Midjourney, Task
lifecycles) over a MockTransport, and one full lifecycle against the demo gateway on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from gateway import midjourney
from gateway.errors import (
    GatewayAuthError,
    GatewayBadResponse,
    GatewayError,
    GatewayPromptBanned,
    GatewayQueueFull,
    GatewayRateLimited,
    GatewayTaskNotFound,
    GatewayTaskRejected,
    GatewayTimeout,
)
from gateway.tasks import FAILED, QUEUED, RUNNING, SUBMITTED, SUCCEEDED, Button
from tests.gateway.fakes import respond, respond_json

TASK = {
    "id": "1712205491372304",
    "action": "IMAGINE",
    "status": "SUCCESS",
    "progress": "100%",
    "prompt": "Cat",
    "promptEn": "Cat",
    "description": "/imagine Cat",
    "submitTime": 1712205491372,
    "finishTime": 1712205542312,
    "imageUrl": "https://cdn.example/grid_0.png",
    "failReason": "",
    "properties": {"finalPrompt": "Cat --v 6.0", "finalZhPrompt": ""},
    "buttons": [
        {"customId": "MJ::JOB::upsample::1::3dbb", "emoji": "", "label": "U1", "style": 2},
        {"customId": "MJ::JOB::reroll::0::3dbb::SOLO", "emoji": "🔄", "label": "", "type": 2},
        {"label": "no custom id"},
    ],
}


def body_of(request: httpx.Request) -> dict:
    return json.loads(request.content)


async def test_imagine_posts_the_prompt_under_the_speed_prefix(gateway):
    gateway.reply(respond_json(200, {"code": 1, "description": "提交成功", "result": 17122}))

    submitted = await midjourney.imagine("Cat --ar 3:2", niji=True, speed="relax")

    request = gateway.requests[0]
    assert request.url == "https://gw.example/mj-relax/mj/submit/imagine"
    assert request.headers["authorization"].startswith("Bearer sk-test")
    assert body_of(request) == {
        "prompt": "Cat --ar 3:2",
        "base64Array": [],
        "botType": "NIJI_JOURNEY",
    }
    assert submitted.task_id == "17122"  # a JSON number becomes a string
    assert not submitted.queued and not submitted.needs_modal


async def test_an_unknown_speed_is_refused_before_any_request(gateway):
    with pytest.raises(ValueError):
        await midjourney.imagine("Cat", speed="ludicrous")
    assert gateway.requests == []


async def test_every_submit_route_and_body(gateway):
    gateway.reply(lambda request: respond_json(200, {"code": 1, "result": "9"}))

    await midjourney.action("1", "MJ::JOB::upsample::1::h")
    await midjourney.modal("2", prompt="a hat", mask="data:image/png;base64,AAAA")
    await midjourney.blend(["a", "b"], dimensions="PORTRAIT", speed="fast")
    await midjourney.describe("data:image/png;base64,AAAA")
    await midjourney.shorten("a very long prompt")
    await midjourney.swap_face("src", "dst", speed="turbo")

    sent = [(r.url.path, body_of(r)) for r in gateway.requests]
    assert sent == [
        (
            "/mj/submit/action",
            {"taskId": "1", "customId": "MJ::JOB::upsample::1::h", "chooseSameChannel": True},
        ),
        (
            "/mj/submit/modal",
            {"taskId": "2", "prompt": "a hat", "maskBase64": "data:image/png;base64,AAAA"},
        ),
        ("/mj-fast/mj/submit/blend", {"base64Array": ["a", "b"], "dimensions": "PORTRAIT"}),
        ("/mj/submit/describe", {"base64": "data:image/png;base64,AAAA"}),
        ("/mj/submit/shorten", {"prompt": "a very long prompt"}),
        ("/mj-turbo/mj/insight-face/swap", {"sourceBase64": "src", "targetBase64": "dst"}),
    ]


async def test_code_22_is_queued_and_code_21_confirm_needs_the_modal(gateway):
    gateway.reply(respond_json(200, {"code": 22, "description": "排队中", "result": "5"}))
    queued = await midjourney.imagine("Cat")
    gateway.reply(
        respond_json(
            200,
            {
                "code": 21,
                "description": "Waiting for window confirm",
                "result": "6",
                "properties": {"finalPrompt": "Cat", "remix": True},
            },
        )
    )
    modal = await midjourney.action("1", "MJ::Inpaint::1::h::SOLO")
    gateway.reply(respond_json(200, {"code": 21, "description": "任务已存在", "result": "7"}))
    existed = await midjourney.imagine("Cat")

    assert (queued.task_id, queued.queued, queued.needs_modal) == ("5", True, False)
    assert (modal.task_id, modal.needs_modal) == ("6", True)
    assert modal.properties["finalPrompt"] == "Cat"
    assert (existed.task_id, existed.needs_modal) == ("7", False)


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({"code": 23, "description": "队列已满"}, GatewayQueueFull, ""),
        (
            {"code": 24, "description": "敏感词", "properties": {"bannedWord": "gore"}},
            GatewayPromptBanned,
            "gore",
        ),
        ({"code": 4, "description": "参数错误"}, GatewayTaskRejected, "参数错误"),
        ({"code": 3, "description": "无可用账号实例"}, GatewayTaskRejected, "无可用账号实例"),
        ({"code": 9, "description": "系统异常"}, GatewayTaskRejected, "系统异常"),
        ({"code": "4", "description": "x", "result": ""}, GatewayTaskRejected, "x"),
        ({"code": "channel_overloaded", "description": "忙"}, GatewayTaskRejected, "忙"),
        ({"code": 1, "description": "提交成功"}, GatewayBadResponse, ""),  # no result
        ({"code": "1", "result": ""}, GatewayBadResponse, ""),
    ],
)
async def test_logical_errors_in_a_200_answer(gateway, body, error, message):
    gateway.reply(respond_json(200, body))

    with pytest.raises(error) as caught:
        await midjourney.imagine("Cat")

    assert type(caught.value) is error
    assert caught.value.status is None
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"description": "prompt_is_required ", "type": "upstream_error", "code": 4}, None),
        (429, {"description": "负载已饱和 ", "type": "new_api_error", "code": 30}, None),
        (401, {"error": {"message": "无效的令牌", "type": "new_api_error"}}, GatewayAuthError),
    ],
)
async def test_gateway_errors_keep_their_http_mapping(gateway, status, body, error):
    gateway.reply(respond_json(status, body))

    with pytest.raises(GatewayError) as caught:
        await midjourney.imagine("")

    if status == 400:
        assert type(caught.value) is GatewayTaskRejected
        assert caught.value.message == "prompt_is_required"  # trailing space trimmed
    elif status == 429:
        assert type(caught.value) is GatewayRateLimited
    else:
        assert type(caught.value) is error


async def test_fetch_parses_a_finished_task(gateway):
    gateway.reply(respond_json(200, TASK))

    task = await midjourney.fetch("1712205491372304")

    assert gateway.requests[0].url.path == "/mj/task/1712205491372304/fetch"
    assert task.status == SUCCEEDED and task.done
    assert task.progress == 100
    assert task.result_urls == ("https://cdn.example/grid_0.png",)
    assert task.buttons == (
        Button("MJ::JOB::upsample::1::3dbb", "U1", ""),
        Button("MJ::JOB::reroll::0::3dbb::SOLO", "", "🔄"),
    )
    assert task.extras["final_prompt"] == "Cat --v 6.0"
    assert task.extras["submitted_at"] == datetime(2024, 4, 4, 4, 38, 11, tzinfo=UTC)  # ms
    assert task.error is None


@pytest.mark.parametrize(
    ("status", "progress", "normalised", "percent"),
    [
        ("", "0%", QUEUED, 0),
        ("NOT_START", None, QUEUED, 0),
        ("SUBMITTED", "", SUBMITTED, 0),
        ("IN_PROGRESS", "45%", RUNNING, 45),
        ("IN_PROGRESS", " 150 % ", RUNNING, 100),
        ("IN_PROGRESS", "-3%", RUNNING, 0),
        ("IN_PROGRESS", "abc", RUNNING, 0),
        ("IN_PROGRESS", 31.7, RUNNING, 31),
        ("SOMETHING_NEW", "10%", RUNNING, 10),
        ("MODAL", "0%", SUBMITTED, 0),
        ("FAILURE", "", FAILED, 0),
        ("CANCEL", "100%", "cancelled", 100),
    ],
)
async def test_statuses_and_progress_are_normalised(gateway, status, progress, normalised, percent):
    running = {**TASK, "status": status, "progress": progress, "buttons": None}
    gateway.reply(respond_json(200, running))

    task = await midjourney.fetch("1712205491372304")

    assert (task.status, task.progress) == (normalised, percent)
    assert task.needs_modal == (status == "MODAL")
    if normalised != SUCCEEDED:
        assert task.result_urls == ()
        assert task.extras["preview_url"] == TASK["imageUrl"]


async def test_a_failed_task_carries_its_reason_as_an_error(gateway):
    gateway.reply(respond_json(200, {**TASK, "status": "FAILURE", "failReason": " 任务超时 "}))

    task = await midjourney.fetch("1")

    assert task.status == FAILED and task.fail_reason == "任务超时"
    assert task.error is not None
    assert task.error.user_message == "The task failed at the gateway: 任务超时"


@pytest.mark.parametrize(
    "response",
    [
        respond_json(400, {"description": "task_no_found ", "type": "upstream_error", "code": 4}),
        respond(204, [], content_type=None),
        respond_json(200, {}),
    ],
)
async def test_an_unknown_task_is_not_found(gateway, response):
    gateway.reply(response)

    with pytest.raises(GatewayTaskNotFound):
        await midjourney.fetch("404")


async def test_batch_fetch_skips_junk_and_sends_the_ids(gateway):
    gateway.reply(lambda request: respond_json(200, [TASK, {"id": ""}, "junk"]))

    tasks = await midjourney.fetch_many(["1712205491372304", "404"])

    assert [t.task_id for t in tasks] == ["1712205491372304"]
    assert gateway.requests[0].url.path == "/mj/task/list-by-condition"
    assert body_of(gateway.requests[0]) == {"ids": ["1712205491372304", "404"]}
    assert await midjourney.fetch_many([]) == []
    assert len(gateway.requests) == 1
    gateway.reply(respond_json(200, {"not": "a list"}))
    with pytest.raises(GatewayBadResponse):
        await midjourney.fetch_many(["1"])


async def test_upload_returns_an_array_and_image_seed_a_string(gateway):
    gateway.reply(respond_json(200, {"code": 1, "result": ["https://cdn.example/a.png"]}))
    assert await midjourney.upload(["data:image/png;base64,AA"]) == ["https://cdn.example/a.png"]
    gateway.reply(respond_json(200, {"code": 1, "description": "成功", "result": 123456}))
    assert await midjourney.image_seed("1") == "123456"
    gateway.reply(respond_json(200, {"code": 4, "description": "related task status error"}))
    with pytest.raises(GatewayTaskRejected):
        await midjourney.image_seed("1")


async def test_a_web_page_instead_of_json_is_a_bad_response(gateway):
    gateway.reply(respond(200, [b"<!doctype html><html></html>"], content_type="text/html"))

    with pytest.raises(GatewayBadResponse) as caught:
        await midjourney.imagine("Cat")

    assert "GATEWAY_BASE_URL" in caught.value.user_message


async def test_a_timeout_is_a_gateway_timeout(gateway):
    gateway.raise_(httpx.ReadTimeout("slow"))

    with pytest.raises(GatewayTimeout):
        await midjourney.fetch("1")


async def test_feature_detection_treats_404_and_web_pages_as_absent(gateway):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/mj/task/list":
            return respond(200, [b"<!doctype html>"], content_type="text/html")
        if request.url.path == "/mj/task/queue":
            return respond_json(200, [])
        return respond_json(404, {"error": {"message": "Invalid URL"}})

    gateway.reply(handler)

    assert await midjourney.features() == midjourney.Features(
        task_list=False, queue=True, cancel=False
    )


# --- against the demo gateway ---------------------------------------------------------


async def test_a_full_lifecycle_on_the_demo_gateway(demo_gateway):
    now = [0.0]
    demo_gateway.media.clock = lambda: now[0]
    demo_gateway.media.duration = 10

    submitted = await midjourney.imagine("a red fox --ar 1:1", speed="fast")
    seen = []
    for step in range(12):
        now[0] = step * 1.0
        task = await midjourney.fetch(submitted.task_id)
        seen.append((task.raw_status, task.progress))
    async with httpx.AsyncClient() as client:
        image = await client.get(task.result_urls[0])

    assert [s for s, _ in seen[:4]] == ["", "NOT_START", "SUBMITTED", "IN_PROGRESS"]
    running = [p for s, p in seen if s == "IN_PROGRESS"]
    assert running == sorted(running) and 0 < running[0] < running[-1] < 100
    assert task.status == SUCCEEDED
    assert [b.label or b.emoji for b in task.buttons] == [
        *("U1", "U2", "U3", "U4"),
        "🔄",
        *("V1", "V2", "V3", "V4"),
    ]
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")

    upscale = await midjourney.action(task.task_id, task.buttons[0].custom_id)
    now[0] += 20
    child = (await midjourney.fetch_many([upscale.task_id, "404"]))[0]
    assert child.status == SUCCEEDED and child.extras["action"] == "UPSCALE"
    assert "Vary (Region)" in [b.label for b in child.buttons]

    region = next(b for b in child.buttons if b.label == "Vary (Region)")
    modal = await midjourney.action(child.task_id, region.custom_id)
    assert modal.needs_modal
    assert (await midjourney.fetch(modal.task_id)).needs_modal
    await midjourney.modal(modal.task_id, prompt="a hat", mask="data:image/png;base64,AAAA")
    now[0] += 20
    assert (await midjourney.fetch(modal.task_id)).status == SUCCEEDED


async def test_demo_gateway_failures_arrive_as_failed_tasks(demo_gateway):
    demo_gateway.media.duration = 0

    submitted = await midjourney.imagine("a fox [demo:fail]")
    task = await midjourney.fetch(submitted.task_id)

    assert task.status == FAILED and task.fail_reason
    with pytest.raises(GatewayPromptBanned):
        await midjourney.imagine("a fox [demo:mj_banned]")
    with pytest.raises(GatewayTaskNotFound):
        await midjourney.fetch("1234567890123456")
    assert await midjourney.features() == midjourney.Features(False, False, False)
    demo_gateway.media.mj_plus = True
    assert await midjourney.features() == midjourney.Features(True, True, True)
