"""Luma video through the gateway (LumaAI-API protocol; docs/gateway-api.md, Luma and
Task lifecycles).

A submit answers one generation object (older deployments: a one-element array; some 201).
States run pending -> processing -> completed | failed. A generation counts as succeeded
only once a clean video link is there (`video.download_url` or `video_raw.url`): until
then a completed one is reported as running at 99 % with the watermarked preview in
`extras["preview_url"]`; `download_url()` asks for the clean link explicitly.
"""

from __future__ import annotations

from typing import Any

from gateway.tasks import (
    FAILED,
    QUEUED,
    RUNNING,
    SUBMITTED,
    SUCCEEDED,
    TaskStatus,
    TaskSubmitted,
    call,
    mapping,
    not_json,
    parse_progress,
    rejected,
    text,
)

ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
# Luma gives no percentage; these stand in for one so a progress bar can move.
_STATE = {"queued": (QUEUED, 0), "pending": (SUBMITTED, 5), "processing": (RUNNING, 50)}


async def submit(
    prompt: str,
    *,
    aspect_ratio: str = "16:9",
    start_image: str = "",
    end_image: str = "",
    loop: bool = False,
    expand_prompt: bool = False,
    extend_id: str = "",
) -> TaskSubmitted:
    """Generate (or, with `extend_id`, extend that finished generation by ~5 s). Images
    are public URLs or data: URLs."""
    body: dict[str, Any] = {
        "user_prompt": prompt,
        "aspect_ratio": aspect_ratio,
        "expand_prompt": expand_prompt,
        "loop": loop,
    }
    if start_image:
        body["image_url"] = start_image
    if end_image:
        body["image_end_url"] = end_image
    path = f"/luma/generations/{extend_id}/extend" if extend_id else "/luma/generations"
    data = await call("POST", path, json=body)
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict) or not text(data.get("id")):
        raise rejected(data)
    return TaskSubmitted(task_id=text(data["id"]), description=text(data.get("state")))


async def extend(task_id: str, prompt: str, **options: Any) -> TaskSubmitted:
    return await submit(prompt, extend_id=task_id, **options)


async def download_url(task_id: str) -> str:
    """The no-watermark video link."""
    data = await call("GET", f"/luma/generations/{task_id}/download_video_url")
    url = text(data.get("url")) if isinstance(data, dict) else ""
    if not url:
        raise rejected(data)
    return url


async def fetch(task_id: str) -> TaskStatus:
    data = await call("GET", f"/luma/generations/{task_id}")
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict) or not text(data.get("id")):
        raise rejected(data)
    return parse_task(data)


async def fetch_many(task_ids: list[str]) -> list[TaskStatus]:
    """POST /luma/tasks (a reseller addition: check it answers before relying on it)."""
    if not task_ids:
        return []
    data = await call("POST", "/luma/tasks", json={"ids": list(task_ids)})
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise not_json(data)
    return [parse_task(task) for task in data if isinstance(task, dict) and task.get("id")]


def parse_task(data: dict[str, Any]) -> TaskStatus:
    raw = text(data.get("state")).lower()
    artifact = mapping(data.get("artifact"))
    video, raw_video = _url_of(data, artifact, "video"), _url_of(data, artifact, "video_raw")
    clean = text(_obj(data, artifact, "video").get("download_url")) or raw_video
    extras = {
        "prompt": text(data.get("prompt")),
        "preview_url": video,
        "video_url": clean,
        "thumbnail_url": _url_of(data, artifact, "thumbnail"),
        "last_frame_url": _url_of(data, artifact, "last_frame"),
        "created_at": text(data.get("created_at")),
    }
    if raw == "completed" and clean:
        status, progress = SUCCEEDED, 100
    elif raw == "completed":
        status, progress = RUNNING, 99
    elif raw in ("failed", "failure", "error"):
        status, progress = FAILED, 100
    else:
        status, progress = _STATE.get(raw, (RUNNING, 50))
    if "progress" in data:
        progress = max(progress, parse_progress(data["progress"])) if status != FAILED else 100
    reason = data.get("failure_reason") or data.get("fail_reason") or data.get("error")
    return TaskStatus(
        task_id=text(data.get("id")),
        status=status,
        progress=progress,
        result_urls=(clean,) if status == SUCCEEDED else (),
        fail_reason=(text(reason).strip() or raw) if status == FAILED else "",
        raw_status=raw,
        extras=extras,
    )


def _obj(data: dict[str, Any], artifact: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or artifact.get(key)
    return value if isinstance(value, dict) else {}


def _url_of(data: dict[str, Any], artifact: dict[str, Any], key: str) -> str:
    return text(_obj(data, artifact, key).get("url"))
