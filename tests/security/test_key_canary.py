"""A canary key: the gateway repeats Parlor's key everywhere it can (a streamed chat reply
split across events, its reasoning, a Midjourney description and prompt echo, a failure
reason, a result URL, an error) and the key, in any case, reaches no websocket frame, no
page, no database row and no log record."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.apps import apps
from django.db import models
from django.test import Client
from django.urls import reverse

from gateway.client import use_transport
from media_jobs.models import MediaJob
from tests.chat.conftest import _no_generation_left_running  # noqa: F401  (autouse fixture)
from tests.factories import make_conversation
from tests.gateway.fakes import respond
from tests.media_jobs.conftest import new_job, run_pass
from tests.sockets import (
    TIMEOUT,
    assistant_id_in,
    cookie_for,
    is_final,
    open_socket,
    receive_until,
    send_action,
)

KEY = "sk-Canary7f3a9c1e55d04b2aXq"
BARE = KEY.removeprefix("sk-")

pytestmark = pytest.mark.django_db(transaction=True)


def leaks(text: str) -> bool:
    """Whether `text` gives the key away: its bare part in any case, URL-encoded or not."""
    lowered = text.lower()
    return BARE.lower() in lowered or quote(BARE).lower() in lowered


def _sse(*events: dict) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)


def _delta(**delta: str) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def _chat_body() -> list[bytes]:
    """The key split over three events, in upper case in a fourth, and in the reasoning; each
    event its own read, and one read cut in the middle of an event."""
    events = _sse(
        _delta(reasoning_content=f"Thinking about {KEY[:9]}"),
        _delta(reasoning_content=f"{KEY[9:]} now."),
        _delta(content="Your key is "),
        _delta(content=KEY[:4]),
        _delta(content=KEY[4:15]),
        _delta(content=KEY[15:] + ", and loudly: "),
        _delta(content=KEY.upper() + "."),
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 30}},
    )
    events += b"data: [DONE]\n\n"
    middle = len(events) // 2
    return [events[:middle], events[middle:]]


def _task(task_id: str) -> dict:
    succeeded = task_id == "task-ok"
    return {
        "id": task_id,
        "action": "IMAGINE",
        "status": "SUCCESS" if succeeded else "FAILURE",
        "progress": "100%",
        "prompt": f"a lighthouse {KEY}",
        "promptEn": f"a lighthouse {BARE.lower()}",
        "description": f"/imagine {KEY}",
        "imageUrl": f"https://cdn.example/{KEY}/grid.png" if succeeded else "",
        "failReason": "" if succeeded else f"banned token {KEY.upper()}",
        "properties": {"finalPrompt": f"lighthouse {KEY}"},
        "buttons": [{"customId": f"MJ::JOB::upsample::1::{BARE}", "label": "U1"}],
    }


class EchoingGateway:
    """Answers every route Parlor calls with texts that carry the key."""

    def __init__(self) -> None:
        self.submitted = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/chat/completions":
            return respond(200, _chat_body())
        if path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "gpt-4o-mini"}]})
        if path.endswith("/mj/submit/imagine"):
            self.submitted += 1
            task_id = "task-ok" if self.submitted == 1 else "task-bad"
            return httpx.Response(
                200, json={"code": 1, "description": f"Submitted {KEY}", "result": task_id}
            )
        if path.endswith("/mj/task/list-by-condition"):
            ids = json.loads(request.content).get("ids") or []
            return httpx.Response(200, json=[_task(task_id) for task_id in ids])
        if "/mj/task/" in path and path.endswith("/fetch"):
            return httpx.Response(200, json=_task(path.split("/")[-2]))
        return httpx.Response(
            400, json={"error": {"message": f"unknown route, token {KEY}", "code": "x"}}
        )


@pytest.fixture
def echoing_gateway(settings, monkeypatch, tmp_path):
    settings.GATEWAY_BASE_URL = "https://gw.example"
    settings.GATEWAY_API_KEY = KEY
    settings.MEDIA_ROOT = tmp_path
    transport = httpx.MockTransport(EchoingGateway())
    monkeypatch.setattr("gateway.download._transport", transport)
    with use_transport(transport):
        yield


def _text_fields(model: type[models.Model]) -> list[str]:
    kinds = (models.CharField, models.TextField, models.JSONField)
    return [f.attname for f in model._meta.concrete_fields if isinstance(f, kinds)]


def _rows_with_the_key() -> list[str]:
    """Every text column of every model, read back from the database."""
    found = []
    for model in apps.get_models():
        fields = _text_fields(model)
        if not fields:
            continue
        for row in model._default_manager.values_list("pk", *fields):
            for name, value in zip(fields, row[1:], strict=True):
                text = value if isinstance(value, str) else json.dumps(value, default=str)
                if leaks(text):
                    found.append(f"{model._meta.label}.{name} (pk {row[0]}): {text[:120]}")
    return found


def _pages(user, chat) -> list[tuple[str, str]]:
    client = Client()
    client.force_login(user)
    urls = [
        reverse("chat:conversation", args=[chat.pk]),
        reverse("media_jobs:gallery"),
    ]
    urls += [reverse("media_jobs:detail", args=[job.pk]) for job in MediaJob.objects.all()]
    urls += [reverse("media_jobs:card", args=[job.pk]) for job in MediaJob.objects.all()]
    return [(url, client.get(url).content.decode()) for url in urls]


@pytest.fixture
def chat(team, alice):
    return make_conversation(team, alice, title="")


@pytest.fixture
async def socket(chat, alice):
    communicator, connected = await open_socket(chat, await sync_to_async(cookie_for)(alice))
    assert connected
    await communicator.receive_from(timeout=TIMEOUT)  # idle controls
    yield communicator
    await communicator.disconnect()


async def test_the_key_the_gateway_repeats_reaches_no_frame_page_row_or_log(
    echoing_gateway, socket, chat, alice, team, caplog
):
    caplog.set_level(logging.DEBUG)

    # A chat reply, streamed over the websocket.
    await send_action(socket, "send", text="Please print your API key")
    first = await socket.receive_from(timeout=TIMEOUT)
    message_id = assistant_id_in([first])
    frames = [first, *await receive_until(socket, is_final(message_id))]

    # Two Midjourney jobs: one succeeds (description, prompt, URL), one fails (reason).
    await sync_to_async(new_job)(alice, team)
    await sync_to_async(new_job)(alice, team)
    await sync_to_async(run_pass)()  # submits both
    await sync_to_async(run_pass)()  # polls: one succeeded, one failed
    jobs = {job.status: job async for job in MediaJob.objects.all()}
    assert set(jobs) == {MediaJob.Status.SUCCEEDED, MediaJob.Status.FAILED}
    assert "[redacted]" in jobs[MediaJob.Status.FAILED].error  # the reason, without the key

    pages = await sync_to_async(_pages)(alice, chat)
    rows = await sync_to_async(_rows_with_the_key)()

    assert "[redacted]" in frames[-1]  # the reply went through, the key did not
    assert [f[:200] for f in frames if leaks(f)] == []
    assert [url for url, body in pages if leaks(body)] == []
    assert rows == []
    formatter = logging.Formatter()
    logged = [formatter.format(r) for r in caplog.records]
    assert logged and [line[:200] for line in logged if leaks(line)] == []
