"""Suno through the gateway, in the format SUNO_API_FORMAT names (docs/gateway-api.md, Suno
and Task lifecycles).

"newapi": `/suno/submit/music|lyrics`, `/suno/fetch[/{id}]`, envelope `{"code": "success",
"data": ...}` (some resellers send 1 or 200). "goamz": `/suno/v1/music[/{id}]`, integer code,
`input` as a JSON string and `clips` as a map. Both come back as the same TaskStatus; the
clips (audio, cover, lyrics, duration) are in `extras["clips"]`, lyrics tasks in
`extras["lyrics"]`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings

from gateway.errors import GatewayFeatureMissing
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
    parse_epoch,
    parse_progress,
    rejected,
    text,
)

FORMATS = ("newapi", "goamz")
_OK = ("success", "1", "200")
_STATUS = {
    "": QUEUED,
    "NOT_START": QUEUED,
    "SUBMITTED": SUBMITTED,
    "PENDING": SUBMITTED,
    "QUEUED": QUEUED,
    "IN_PROGRESS": RUNNING,
    "PROCESSING": RUNNING,
    "STREAMING": RUNNING,
    "SUCCESS": SUCCEEDED,
    "COMPLETED": SUCCEEDED,
    "COMPLETE": SUCCEEDED,
    "FAILURE": FAILED,
    "FAIL": FAILED,
    "FAILED": FAILED,
    "ERROR": FAILED,
    "UNKNOWN": FAILED,
}


def api_format() -> str:
    return "goamz" if settings.SUNO_API_FORMAT == "goamz" else "newapi"


async def submit(
    *,
    prompt: str = "",
    description: str = "",
    title: str = "",
    tags: str = "",
    model: str = "",
    instrumental: bool = False,
    continue_task_id: str = "",
    continue_clip_id: str = "",
    continue_at: float | None = None,
) -> TaskSubmitted:
    """Inspiration mode with `description`; custom mode with `prompt` (lyrics), `title`,
    `tags`; a continuation with `continue_task_id` (the original task), clip and offset."""
    fields: dict[str, Any] = {"make_instrumental": instrumental}
    if description and not prompt:
        fields["gpt_description_prompt"] = description
    else:
        fields |= {"prompt": prompt, "title": title, "tags": tags}
    if model:
        fields["mv"] = model
    if continue_clip_id:
        fields |= {"task_id": continue_task_id, "continue_clip_id": continue_clip_id}
        fields["continue_at"] = continue_at or 0
    if api_format() == "goamz":
        body = {"custom_mode": "gpt_description_prompt" not in fields, "input": fields}
        data = _goamz_data(await call("POST", "/suno/v1/music", json=body))
        return TaskSubmitted(task_id=text(data.get("task_id")) or _missing(data))
    return TaskSubmitted(task_id=text(_data(await call("POST", "/suno/submit/music", json=fields))))


async def submit_lyrics(prompt: str) -> TaskSubmitted:
    if api_format() == "goamz":
        raise GatewayFeatureMissing("lyrics are not part of the GoAmz Suno format")
    data = await call("POST", "/suno/submit/lyrics", json={"prompt": prompt})
    return TaskSubmitted(task_id=text(_data(data)))


async def fetch(task_id: str) -> TaskStatus:
    if api_format() == "goamz":
        return _parse_goamz(_goamz_data(await call("GET", f"/suno/v1/music/{task_id}")))
    return parse_task(_data(await call("GET", f"/suno/fetch/{task_id}")))


async def fetch_many(task_ids: list[str]) -> list[TaskStatus]:
    if not task_ids:
        return []
    if api_format() == "goamz":  # no batch route: one request per task
        return list(await asyncio.gather(*(fetch(task_id) for task_id in task_ids)))
    data = _data(await call("POST", "/suno/fetch", json={"ids": list(task_ids)}))
    return [parse_task(task) for task in data if isinstance(task, dict)]


def parse_task(data: Any) -> TaskStatus:
    if not isinstance(data, dict):
        raise rejected({"message": "no task in the answer"})
    raw = text(data.get("status")).upper()
    status = _STATUS.get(raw, RUNNING)
    payload = data.get("data")
    extras: dict[str, Any] = {
        "action": text(data.get("action")),
        "submitted_at": parse_epoch(data.get("submit_time")),
        "finished_at": parse_epoch(data.get("finish_time")),
        "clips": [],
    }
    if isinstance(payload, dict):  # LYRICS: one object
        extras["lyrics"] = {k: text(payload.get(k)) for k in ("id", "title", "text")}
    elif isinstance(payload, list):
        extras["clips"] = [_clip(c) for c in payload if isinstance(c, dict)]
    return _status(text(data.get("task_id")), status, raw, data, extras)


def _parse_goamz(data: dict[str, Any]) -> TaskStatus:
    raw = text(data.get("status")).upper()
    clips = data.get("clips")
    clips = list(clips.values()) if isinstance(clips, dict) else clips or []
    extras = {"action": "MUSIC", "clips": [_clip(c) for c in clips if isinstance(c, dict)]}
    return _status(text(data.get("task_id")), _STATUS.get(raw, RUNNING), raw, data, extras)


def _status(task_id: str, status: str, raw: str, data: dict, extras: dict) -> TaskStatus:
    reason = text(data.get("fail_reason") or data.get("error_message")).strip()
    if status == FAILED and not reason:
        reason = next((c["error"] for c in extras["clips"] if c["error"]), "")
    urls = [c["audio_url"] for c in extras["clips"] if c["audio_url"]]
    return TaskStatus(
        task_id=task_id,
        status=status,
        progress=100 if status == SUCCEEDED else parse_progress(data.get("progress")),
        result_urls=tuple(urls) if status == SUCCEEDED else (),
        fail_reason=reason if status == FAILED else "",
        raw_status=raw,
        extras=extras,
    )


def _clip(clip: dict[str, Any]) -> dict[str, Any]:
    meta = mapping(clip.get("metadata"))
    duration = meta.get("duration")
    return {
        "id": text(clip.get("id")),
        "title": text(clip.get("title")),
        "status": text(clip.get("status")),
        "audio_url": text(clip.get("audio_url")),
        "video_url": text(clip.get("video_url")),
        "image_url": text(clip.get("image_large_url") or clip.get("image_url")),
        "lyrics": text(meta.get("prompt")),
        "tags": text(meta.get("tags")),
        "duration": float(duration) if isinstance(duration, (int, float)) else None,
        "error": text(meta.get("error_message")),
    }


def _data(envelope: Any) -> Any:
    """`data` of a newapi envelope whose code means success, else GatewayTaskRejected."""
    ok = isinstance(envelope, dict) and str(envelope.get("code")).lower() in _OK
    if not ok or envelope.get("data") in (None, ""):
        raise rejected(envelope)
    return envelope["data"]


def _goamz_data(envelope: Any) -> dict[str, Any]:
    ok = isinstance(envelope, dict) and str(envelope.get("code")) == "200"
    if not ok or not isinstance(envelope.get("data"), dict):
        message = envelope.get("error_message") if isinstance(envelope, dict) else None
        raise rejected({**envelope, "message": message} if message else envelope)
    return envelope["data"]


def _missing(data: Any) -> str:
    raise rejected({"message": f"no task id in {text(data)[:100]}"})
