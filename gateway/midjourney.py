"""Midjourney through the gateway (midjourney-proxy protocol; docs/gateway-api.md, Midjourney
and Task lifecycles).

Submits answer HTTP 200 with a `code`: 1 submitted, 22 queued, 21 "existed" or "Waiting for
window confirm" (a MODAL task: call `modal`), anything else is an error mapped here.
Speed is chosen by a path prefix (`/mj-fast/mj/...`); fetches always use plain `/mj/...`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import probe
from gateway.errors import GatewayPromptBanned, GatewayQueueFull
from gateway.tasks import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUBMITTED,
    SUCCEEDED,
    Button,
    TaskStatus,
    TaskSubmitted,
    call,
    mapping,
    not_json,
    parse_epoch,
    parse_int,
    parse_progress,
    rejected,
    text,
)

SPEEDS = ("fast", "relax", "turbo")
_STATUS = {
    "": QUEUED,
    "NOT_START": QUEUED,
    "SUBMITTED": SUBMITTED,
    "MODAL": SUBMITTED,
    "IN_PROGRESS": RUNNING,
    "SUCCESS": SUCCEEDED,
    "FAILURE": FAILED,
    "FAIL": FAILED,
    "CANCEL": CANCELLED,
    "CANCELLED": CANCELLED,
}


@dataclass(frozen=True, slots=True)
class Features:
    """Optional proxy routes (stock new-api answers them with its console page)."""

    task_list: bool
    queue: bool
    cancel: bool


async def submit(endpoint: str, body: dict[str, Any], *, speed: str | None = None) -> TaskSubmitted:
    """POST /[mj-SPEED]/mj/submit/ENDPOINT (or /mj/insight-face/swap) and read the code."""
    if speed is not None and speed not in SPEEDS:
        raise ValueError(f"speed must be one of {SPEEDS}, not {speed!r}")
    path = endpoint if endpoint.startswith("/") else f"/mj/submit/{endpoint}"
    data = await call("POST", f"/mj-{speed}{path}" if speed else path, json=body)
    return _submitted(data)


async def imagine(
    prompt: str, *, images: list[str] | None = None, niji: bool = False, speed: str | None = None
) -> TaskSubmitted:
    """`prompt` carries --ar/--v/--niji flags as typed; `images` are data: URLs."""
    body = {
        "prompt": prompt,
        "base64Array": list(images or []),
        "botType": "NIJI_JOURNEY" if niji else "MID_JOURNEY",
    }
    return await submit("imagine", body, speed=speed)


async def action(task_id: str, custom_id: str, **opts: Any) -> TaskSubmitted:
    body = {"taskId": task_id, "customId": custom_id, "chooseSameChannel": True}
    return await submit("action", body, **opts)


async def modal(task_id: str, *, prompt: str = "", mask: str = "", **opts: Any) -> TaskSubmitted:
    body: dict[str, Any] = {"taskId": task_id, "prompt": prompt}
    if mask:
        body["maskBase64"] = mask
    return await submit("modal", body, **opts)


async def blend(images: list[str], *, dimensions: str = "SQUARE", **opts: Any) -> TaskSubmitted:
    return await submit("blend", {"base64Array": list(images), "dimensions": dimensions}, **opts)


async def describe(image: str, **opts: Any) -> TaskSubmitted:
    return await submit("describe", {"base64": image}, **opts)


async def shorten(prompt: str, **opts: Any) -> TaskSubmitted:
    return await submit("shorten", {"prompt": prompt}, **opts)


async def swap_face(source: str, target: str, **opts: Any) -> TaskSubmitted:
    body = {"sourceBase64": source, "targetBase64": target}
    return await submit("/mj/insight-face/swap", body, **opts)


async def upload(images: list[str]) -> list[str]:
    """Host images on the Discord CDN; returns their URLs (`result` is an array here)."""
    data = await call("POST", "/mj/submit/upload-discord-images", json={"base64Array": images})
    if not isinstance(data, dict) or parse_int(data.get("code"), -1) != 1:
        raise rejected(data)
    return [str(url) for url in data.get("result") or [] if url]


async def image_seed(task_id: str) -> str:
    data = await call("GET", f"/mj/task/{task_id}/image-seed")
    seed = text(data.get("result")) if isinstance(data, dict) else ""
    if not seed or parse_int(data.get("code"), -1) != 1:
        raise rejected(data)
    return seed


async def fetch(task_id: str) -> TaskStatus:
    data = await call("GET", f"/mj/task/{task_id}/fetch")
    if not isinstance(data, dict) or not data.get("id"):
        raise rejected({"description": f"task_no_found {task_id}"})
    return parse_task(data)


async def fetch_many(task_ids: list[str]) -> list[TaskStatus]:
    """list-by-condition: unknown ids are left out of the answer."""
    if not task_ids:
        return []
    data = await call("POST", "/mj/task/list-by-condition", json={"ids": list(task_ids)})
    if not isinstance(data, list):
        raise not_json(data)
    return [parse_task(task) for task in data if isinstance(task, dict) and task.get("id")]


async def features() -> Features:
    """Which optional routes the gateway has (gateway.probe asks; unknown counts as no)."""
    return Features(**await probe.midjourney_features())


async def cancel(task_id: str) -> None:
    """trueai only; check `features().cancel` first."""
    await call("POST", f"/mj/task/{task_id}/cancel")


def parse_task(data: dict[str, Any]) -> TaskStatus:
    raw = text(data.get("status")).upper()
    status = _STATUS.get(raw, RUNNING)
    image = text(data.get("imageUrl"))
    urls = [image] if image else []
    urls += [text(u.get("url")) for u in data.get("imageUrls") or [] if isinstance(u, dict)]
    properties = mapping(data.get("properties"))
    extras = {
        "action": text(data.get("action")),
        "prompt": text(data.get("prompt")),
        "prompt_en": text(data.get("promptEn")),
        "description": text(data.get("description")),
        "final_prompt": text(properties.get("finalPrompt")),
        "preview_url": "" if status == SUCCEEDED else image,
        "video_url": text(data.get("videoUrl")),
        "submitted_at": parse_epoch(data.get("submitTime")),
        "finished_at": parse_epoch(data.get("finishTime")),
    }
    return TaskStatus(
        task_id=text(data.get("id")),
        status=status,
        progress=100 if status == SUCCEEDED else parse_progress(data.get("progress")),
        result_urls=tuple(dict.fromkeys(u for u in urls if u)) if status == SUCCEEDED else (),
        buttons=tuple(_buttons(data.get("buttons"))),
        fail_reason=text(data.get("failReason")).strip() if status == FAILED else "",
        needs_modal=raw == "MODAL",
        raw_status=raw,
        extras=extras,
    )


def _submitted(data: Any) -> TaskSubmitted:
    if not isinstance(data, dict):
        raise not_json(data)
    code, description = parse_int(data.get("code"), -1), text(data.get("description"))
    properties = mapping(data.get("properties"))
    if code == 23:
        raise GatewayQueueFull(description)
    if code == 24:
        word = text(properties.get("bannedWord"))
        raise GatewayPromptBanned(description, message=word)
    if code not in (1, 21, 22):
        raise rejected(data)
    if not text(data.get("result")):
        raise not_json(data)
    needs_modal = code == 21 and ("confirm" in description.lower() or bool(properties.get("remix")))
    return TaskSubmitted(
        task_id=text(data["result"]),
        queued=code == 22,
        needs_modal=needs_modal,
        description=description,
        properties=properties,
    )


def _buttons(raw: Any) -> list[Button]:
    if not isinstance(raw, list):
        return []
    return [
        Button(text(b.get("customId")), text(b.get("label")), text(b.get("emoji")))
        for b in raw
        if isinstance(b, dict) and b.get("customId")
    ]
