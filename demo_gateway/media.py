"""Midjourney, Suno and Luma on the demo gateway (docs/gateway-api.md, "Fake gateway").

Tasks move on a clock: a task's phase is the time since it started over `duration` (times
a per-family factor), so `make run` jobs take 10-20 s and tests set `duration` to a few
hundredths of a second or drive `clock` by hand. Results are real files served by the
demo gateway itself under `/demo-media/...` (no auth, like new-api's `/mj/image/{id}`).

Failures on request: a `[demo:NAME]` marker in the prompt or an `X-Demo-Scenario` header.
`fail` (the task ends failed), `never` (it never finishes), `instant` (done at once),
`duration:N` (this task takes N seconds), `expired` (its result links answer 403);
Midjourney submits `mj_queued` (code 22), `mj_queue_full` (23), `mj_banned` (24),
`mj_saturated` (HTTP 429 code 30); Suno `quota` (403 quota_not_enough); Luma `luma_array`
(one-element array) and `luma_201`.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from demo_gateway import files
from demo_gateway.replies import MARKER_RE
from demo_gateway.scenarios import Reply, auth_error, console_page, dumps

PREFIXES = ("/mj/", "/mj-fast/mj/", "/mj-relax/mj/", "/mj-turbo/mj/", "/suno/", "/luma/")
MEDIA = "/demo-media/"
FACTOR = {"mj": 1.0, "suno": 1.5, "luma": 2.0}
FAIL_REASON = {
    "mj": "任务失败：演示网关按要求让任务失败",  # noqa: RUF001
    "suno": "demo gateway: generation failed on request",
    "luma": "demo gateway: the render failed on request",
}
_GRID = frozenset(
    {"IMAGINE", "VARIATION", "REROLL", "BLEND", "LOW_VARIATION", "HIGH_VARIATION"}
    | {"INPAINT", "ZOOM", "CUSTOM_ZOOM", "PAN"}
)
# customId kind (new-api: segment 2 after "JOB", else segment 1) -> gateway action.
_ACTIONS = {
    "upsample": "UPSCALE",
    "upsample_v6_2x_subtle": "UPSCALE",
    "upsample_v6_2x_creative": "UPSCALE",
    "variation": "VARIATION",
    "reroll": "REROLL",
    "low_variation": "LOW_VARIATION",
    "high_variation": "HIGH_VARIATION",
    "inpaint": "INPAINT",
    "outpaint": "ZOOM",
    "customzoom": "CUSTOM_ZOOM",
    "pan_left": "PAN",
    "pan_right": "PAN",
    "pan_up": "PAN",
    "pan_down": "PAN",
    "picreader": "IMAGINE",
    "promptanalyzer": "IMAGINE",
}
# The routes a new-api gateway (plus the Luma service) serves; others get its console page.
_ROUTES = (
    ("POST", r"/mj/submit/(imagine|action|modal|blend|describe|shorten|upload-discord-images)"),
    ("POST", r"/mj/insight-face/swap"),
    ("POST", r"/mj/task/list-by-condition"),
    ("GET", r"/mj/task/[^/]+/(fetch|image-seed)"),
    ("POST", r"/suno/submit/(music|lyrics)"),
    ("POST", r"/suno/fetch"),
    ("GET", r"/suno/fetch/[^/]+"),
    ("POST", r"/suno/v1/music"),
    ("GET", r"/suno/v1/music/[^/]+"),
)
_MJ_PLUS_ROUTES = (("GET", r"/mj/task/(list|queue)"), ("POST", r"/mj/task/[^/]+/cancel"))
_LUMA_ROUTES = (
    ("POST", r"/luma/generations/?"),
    ("POST", r"/luma/generations/[^/]+/extend"),
    ("GET", r"/luma/generations/[^/]+(/download_video_url)?"),
    ("POST", r"/luma/tasks"),
)
_MODAL = {"inpaint", "customzoom", "picreader", "promptanalyzer"}


@dataclass
class Task:
    id: str
    family: str  # mj | suno | luma
    action: str
    prompt: str
    started: float | None  # None: an MJ MODAL task waiting for /mj/submit/modal
    scenario: str = ""
    submit_ms: int = 0
    hash: str = field(default_factory=lambda: str(uuid.uuid4()))
    parent: str = ""
    modal_kind: str = ""
    body: dict[str, Any] = field(default_factory=dict)
    clips: list[str] = field(default_factory=list)
    cancelled: bool = False


class MediaEmulator:
    """Task store and answers for the media routes. `duration`, `clock`, `mj_plus` (the
    optional list/queue/cancel routes) and `luma` (serve /luma at all) may be changed live."""

    def __init__(self, duration: float = 10.0) -> None:
        self.duration = duration
        self.clock: Callable[[], float] = time.monotonic
        self.mj_plus = False
        self.luma = True
        self.tasks: dict[str, Task] = {}
        self.base = ""
        self._ids = itertools.count(1)

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith((*PREFIXES, MEDIA))

    def answer(self, request: Any, request_id: str, authorized: bool, base: str) -> Reply:
        path = request.path
        if path.startswith(MEDIA):
            return self._file(path.removeprefix(MEDIA))
        if path.startswith("/mj/image/"):
            task = self.tasks.get(path.removeprefix("/mj/image/"))
            return self._file(f"mj/{task.id}.png") if task else _not_found()
        if path.startswith("/mj-"):  # /mj-fast/mj/...: the speed is the gateway's business
            path = "/" + path[1:].partition("/")[2]
        if not self._routed(request.method, path):
            return console_page()
        if not authorized:
            return auth_error(request.headers.get("authorization"), request_id)
        self.base = base
        body = request.json if isinstance(request.json, dict) else {}
        scenario = _scenario(request.headers.get("x-demo-scenario"), body)
        if path.startswith("/suno/"):
            return self._suno(request.method, path, body, scenario)
        if path.startswith("/luma/"):
            return self._luma(request.method, path, body, scenario)
        return self._mj(request.method, path, body, scenario)

    def _routed(self, method: str, path: str) -> bool:
        routes = _ROUTES + (_MJ_PLUS_ROUTES if self.mj_plus else ())
        routes += _LUMA_ROUTES if self.luma else ()
        return any(m == method and re.fullmatch(p, path) for m, p in routes)

    # --- clock ----------------------------------------------------------------------

    def phase(self, task: Task) -> float:
        """0 at the start, 1 when done; MODAL tasks stay at 0 and `never` below 1."""
        if task.started is None:
            return 0.0
        if task.scenario == "instant":
            return 2.0
        total = self.duration * FACTOR[task.family]
        if task.scenario.startswith("duration:"):  # [demo:duration:90]: this task takes 90 s
            total = float(task.scenario.partition(":")[2])
        value = (self.clock() - task.started) / max(1e-9, total)
        return min(value, 0.9) if task.scenario == "never" else value

    def _new(self, family: str, action: str, prompt: str, scenario: str, **kw: Any) -> Task:
        if family == "mj":
            task_id = f"{int(time.time() * 1000)}{next(self._ids) % 10000:04d}"
        else:
            task_id = str(uuid.uuid4())
        task = Task(task_id, family, action, prompt, self.clock(), scenario, _now_ms(), **kw)
        self.tasks[task_id] = task
        return task

    def _url(self, name: str) -> str:
        return f"{self.base}{MEDIA}{name}"

    # --- Midjourney -----------------------------------------------------------------

    def _mj(self, method: str, path: str, body: dict, scenario: str) -> Reply:
        if method == "POST" and path.startswith("/mj/submit/"):
            return self._mj_submit(path.removeprefix("/mj/submit/"), body, scenario)
        if method == "POST" and path == "/mj/insight-face/swap":
            return self._mj_submit("swap_face", body, scenario)
        if method == "POST" and path == "/mj/task/list-by-condition":
            ids = body.get("ids") or []
            found = [self.tasks[i] for i in ids if i in self.tasks]
            return _json([self._mj_object(t) for t in found if t.family == "mj"])
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["mj", "task"]:
            task = self.tasks.get(parts[2])
            if task is None or task.family != "mj":
                return _mj_gateway_error(400, "task_no_found", 4)
            if method == "GET" and parts[3] == "fetch":
                return _json(self._mj_object(task))
            if method == "GET" and parts[3] == "image-seed":
                if self._mj_status(task) != "SUCCESS":
                    return _mj_result(4, "related task status error")
                return _mj_result(1, "成功", str(int(task.hash[:8], 16)))
            if method == "POST" and parts[3] == "cancel" and self.mj_plus:
                task.cancelled = True
                return Reply(200, b"", None)
        if self.mj_plus and method == "GET" and path in ("/mj/task/list", "/mj/task/queue"):
            tasks = [t for t in self.tasks.values() if t.family == "mj"]
            if path.endswith("queue"):
                tasks = [t for t in tasks if self._mj_status(t) not in ("SUCCESS", "FAILURE")]
            return _json([self._mj_object(t) for t in tasks[-100:]])
        return console_page()

    def _mj_submit(self, kind: str, body: dict, scenario: str) -> Reply:
        if scenario == "mj_saturated":
            return _mj_gateway_error(429, "当前分组上游负载已饱和，请稍后再试", 30)  # noqa: RUF001
        if kind == "action":
            return self._mj_action(body, scenario)
        if kind == "modal":
            return self._mj_modal(body)
        if kind == "upload-discord-images":
            images = body.get("base64Array") or []
            if not images:
                return _mj_result(4, "base64List参数错误")
            urls = [self._url(f"upload/{uuid.uuid4()}.png") for _ in images]
            return _mj_result(1, "上传成功", urls)
        prompt = str(body.get("prompt") or "")
        needs = {
            "imagine": prompt,
            "shorten": prompt,
            "describe": body.get("base64"),
            "blend": 2 <= len(body.get("base64Array") or []) <= 5,
            "swap_face": body.get("sourceBase64") and body.get("targetBase64"),
        }
        if kind not in needs:
            return console_page()
        if kind == "imagine" and not prompt:
            return _mj_gateway_error(400, "prompt_is_required", 4)
        if not needs[kind]:
            return _mj_result(4, "参数错误")
        if scenario == "mj_queue_full":
            return _mj_result(23, "队列已满，请稍后尝试")  # noqa: RUF001
        if scenario == "mj_banned":
            props = {"promptEn": prompt, "bannedWord": "banned"}
            return _mj_result(24, "可能包含敏感词", properties=props)
        action = {"swap_face": "SWAP_FACE"}.get(kind, kind.upper())
        task = self._new("mj", action, prompt, scenario, body=body)
        if scenario == "mj_queued":
            queue = {"numberOfQueues": 1, "discordInstanceId": "1118"}
            return _mj_result(22, "排队中，前面还有1个任务", task.id, properties=queue)  # noqa: RUF001
        return _mj_result(1, "提交成功", task.id, properties={"discordInstanceId": "1"})

    def _mj_action(self, body: dict, scenario: str) -> Reply:
        custom_id = str(body.get("customId") or "")
        if not custom_id:
            return _mj_gateway_error(400, "custom_id_is_required", 4)
        segments = custom_id.split("::")
        kind = segments[2] if len(segments) > 2 and segments[1].upper() == "JOB" else ""
        kind = (kind or (segments[1] if len(segments) > 1 else "")).lower()
        if kind not in _ACTIONS:
            return _mj_gateway_error(400, f"unknown_action:{custom_id}", 4)
        parent = self.tasks.get(str(body.get("taskId") or ""))
        if parent is None or parent.family != "mj":
            return _mj_gateway_error(400, "task_no_found", 4)
        if self._mj_status(parent) != "SUCCESS":
            return _mj_gateway_error(400, "task_status_not_success", 4)
        if custom_id not in (b["customId"] for b in self._mj_buttons(parent)):
            return _mj_result(4, "customId 参数错误")
        prompt = _suggestion(parent, segments) if kind in _MODAL - {"inpaint"} else parent.prompt
        child = self._new("mj", _ACTIONS[kind], prompt, scenario, parent=parent.id)
        if kind in _MODAL:
            child.started, child.modal_kind = None, kind
            props = {"finalPrompt": prompt, "remix": True}
            return _mj_result(21, "Waiting for window confirm", child.id, properties=props)
        child.body = {"customId": custom_id}
        return _mj_result(1, "提交成功", child.id)

    def _mj_modal(self, body: dict) -> Reply:
        task = self.tasks.get(str(body.get("taskId") or ""))
        if task is None or task.family != "mj":
            return _mj_gateway_error(400, "task_no_found", 4)
        if task.started is not None:
            return _mj_result(4, "参数错误")
        prompt = str(body.get("prompt") or "")
        if task.modal_kind == "inpaint" and not body.get("maskBase64"):
            return _mj_result(4, "参数错误")
        if task.modal_kind == "customzoom" and not prompt:
            return _mj_result(4, "prompt不能为空")
        task.prompt = prompt or task.prompt
        task.scenario = _scenario(None, {"prompt": task.prompt})
        task.started = self.clock()
        return _mj_result(1, "提交成功", task.id)

    def _mj_status(self, task: Task) -> str:
        phase = self.phase(task)
        if task.cancelled or (phase >= 1 and task.scenario == "fail"):
            return "FAILURE"
        if task.started is None:
            return "MODAL"
        for limit, status in (
            (0.1, ""),
            (0.2, "NOT_START"),
            (0.3, "SUBMITTED"),
            (1, "IN_PROGRESS"),
        ):
            if phase < limit:
                return status
        return "SUCCESS"

    def _mj_object(self, task: Task) -> dict[str, Any]:
        status, phase = self._mj_status(task), self.phase(task)
        progress = {"SUCCESS": "100%", "FAILURE": "100%"}.get(status, "0%")
        image = ""
        if status == "IN_PROGRESS":
            progress = f"{min(99, max(1, int((phase - 0.3) / 0.7 * 100)))}%"
            image = self._url(f"mj/{task.id}-preview.png")
        elif status == "SUCCESS":
            image = self._url(f"mj/{task.id}.png")
        final = _describe_prompts(task) if task.action == "DESCRIBE" else f"{task.prompt} --v 6.0"
        done = status in ("SUCCESS", "FAILURE")
        return {
            "id": task.id,
            "action": task.action,
            "status": status,
            "progress": progress,
            "prompt": task.prompt,
            "promptEn": final if task.action == "DESCRIBE" else task.prompt,
            "description": _mj_description(task),
            "state": "",
            "submitTime": task.submit_ms,
            "startTime": task.submit_ms + 1000 if status not in ("", "NOT_START") else 0,
            "finishTime": _now_ms() if done else 0,
            "imageUrl": image,
            "failReason": ("取消任务" if task.cancelled else FAIL_REASON["mj"])
            if status == "FAILURE"
            else "",
            "properties": {
                "finalPrompt": final if status == "SUCCESS" else "",
                "finalZhPrompt": "",
            },
            "buttons": self._mj_buttons(task) if status == "SUCCESS" else [],
        }

    def _mj_buttons(self, task: Task) -> list[dict[str, Any]]:
        h = task.hash
        if task.action == "DESCRIBE":
            rows = [(f"MJ::Job::PicReader::{i}", str(i), "") for i in range(1, 5)]
        elif task.action == "SHORTEN":
            rows = [(f"MJ::Job::PromptAnalyzer::{i}", str(i), "") for i in range(1, 6)]
        elif task.action in _GRID:
            rows = [(f"MJ::JOB::upsample::{i}::{h}", f"U{i}", "") for i in range(1, 5)]
            rows.append((f"MJ::JOB::reroll::0::{h}::SOLO", "", "🔄"))
            rows += [(f"MJ::JOB::variation::{i}::{h}", f"V{i}", "") for i in range(1, 5)]
        else:
            rows = [
                (f"MJ::JOB::upsample_v6_2x_subtle::1::{h}::SOLO", "Upscale (Subtle)", ""),
                (f"MJ::JOB::upsample_v6_2x_creative::1::{h}::SOLO", "Upscale (Creative)", ""),
                (f"MJ::JOB::low_variation::1::{h}::SOLO", "Vary (Subtle)", "🪄"),
                (f"MJ::JOB::high_variation::1::{h}::SOLO", "Vary (Strong)", "🪄"),
                (f"MJ::Inpaint::1::{h}::SOLO", "Vary (Region)", "🖌️"),
                (f"MJ::Outpaint::50::1::{h}::SOLO", "Zoom Out 2x", "🔍"),
                (f"MJ::Outpaint::75::1::{h}::SOLO", "Zoom Out 1.5x", "🔍"),
                (f"MJ::CustomZoom::1::{h}", "Custom Zoom", "🔍"),
            ]
            rows += [
                (f"MJ::JOB::pan_{side}::1::{h}::SOLO", "", arrow)
                for side, arrow in (("left", "⬅️"), ("right", "➡️"), ("up", "⬆️"), ("down", "⬇️"))
            ]
        return [
            {"customId": c, "emoji": e, "label": label, "style": 2, "type": 2}
            for c, label, e in rows
        ]

    # --- Suno -----------------------------------------------------------------------

    def _suno(self, method: str, path: str, body: dict, scenario: str) -> Reply:
        if path == "/suno/v1/music" and method == "POST":
            return self._goamz_submit(body, scenario)
        if path.startswith("/suno/v1/music/") and method == "GET":
            task = self.tasks.get(path.rsplit("/", 1)[1])
            if task is None or task.family != "suno":
                return _json({"code": 404, "message": "task not found", "data": None}, 404)
            return _json({"code": 200, "data": self._goamz_object(task), "message": "success"})
        if method == "POST" and path in ("/suno/submit/music", "/suno/submit/lyrics"):
            return self._suno_submit(path.rsplit("/", 1)[1], body, scenario)
        if method == "POST" and path == "/suno/fetch":
            ids = body.get("ids") or []
            found = [self.tasks[i] for i in ids if i in self.tasks]
            return _suno_ok([self._suno_object(t) for t in found if t.family == "suno"])
        if method == "GET" and path.startswith("/suno/fetch/"):
            task = self.tasks.get(path.rsplit("/", 1)[1])
            if task is None or task.family != "suno":
                return _suno_error(400, "task_not_exist")
            return _suno_ok(self._suno_object(task))
        return console_page()

    def _suno_submit(self, kind: str, body: dict, scenario: str) -> Reply:
        if scenario == "quota":
            return _suno_error(403, "quota_not_enough")
        prompt = str(body.get("gpt_description_prompt") or body.get("prompt") or "")
        if kind == "lyrics":
            if not prompt:
                return _suno_error(400, "invalid_request", "prompt_empty")
            return _suno_ok(self._new("suno", "LYRICS", prompt, scenario).id)
        if body.get("continue_clip_id") and not body.get("task_id"):
            return _suno_error(400, "invalid_request", "task id is empty")
        origin = self.tasks.get(str(body.get("task_id") or ""))
        if body.get("task_id") and (origin is None or origin.family != "suno"):
            return _suno_error(400, "task_not_exist", "task_origin_not_exist")
        if not prompt and not body.get("make_instrumental") and not body.get("tags"):
            return _suno_error(400, "invalid_request", "prompt_empty")
        task = self._new("suno", "MUSIC", prompt, scenario, body=body)
        task.clips = [str(uuid.uuid4()), str(uuid.uuid4())]
        return _suno_ok(task.id)

    def _goamz_submit(self, body: dict, scenario: str) -> Reply:
        fields = body["input"] if isinstance(body.get("input"), dict) else {}
        prompt = str(fields.get("gpt_description_prompt") or fields.get("prompt") or "")
        if not prompt and not fields.get("make_instrumental"):
            return _json({"code": 400, "message": "prompt is required", "data": None}, 400)
        task = self._new("suno", "MUSIC", prompt, scenario, body=fields)
        task.clips = [str(uuid.uuid4()), str(uuid.uuid4())]
        return _json({"code": 200, "data": {"task_id": task.id}, "message": "success"})

    def _suno_phase(self, task: Task) -> tuple[str, int]:
        phase = self.phase(task)
        if phase >= 1:
            return ("FAILURE" if task.scenario == "fail" else "SUCCESS"), 100
        for limit, status in ((0.1, "NOT_START"), (0.25, "SUBMITTED"), (0.4, "QUEUED")):
            if phase < limit:
                return status, 0
        return "IN_PROGRESS", min(99, int((phase - 0.4) / 0.6 * 100))

    def _suno_object(self, task: Task) -> dict[str, Any]:
        status, progress = self._suno_phase(task)
        data: Any = None
        if task.action == "LYRICS" and status == "SUCCESS":
            data = {"id": task.hash, "title": _title(task.prompt), "status": "complete"}
            data["text"] = _lyrics(task.prompt)
        elif task.action == "MUSIC" and status != "NOT_START":
            data = [self._clip(task, clip_id, status, i) for i, clip_id in enumerate(task.clips)]
        return {
            "task_id": task.id,
            "action": task.action,
            "status": status,
            "fail_reason": FAIL_REASON["suno"] if status == "FAILURE" else "",
            "submit_time": task.submit_ms // 1000,
            "start_time": task.submit_ms // 1000 + 1 if status != "NOT_START" else 0,
            "finish_time": _now_ms() // 1000 if progress == 100 else 0,
            "progress": f"{progress}%",
            "data": data,
        }

    def _clip(self, task: Task, clip_id: str, status: str, index: int) -> dict[str, Any]:
        # The first clip finishes a little before the second one.
        early = index == 0 and status == "IN_PROGRESS" and self.phase(task) >= 0.9
        clip_status = {
            "SUBMITTED": "submitted",
            "QUEUED": "queued",
            "IN_PROGRESS": "complete" if early else "streaming",
            "SUCCESS": "complete",
            "FAILURE": "error",
        }[status]
        complete = clip_status == "complete"
        body = task.body
        lyrics = str(body.get("prompt") or "") or _lyrics(task.prompt)
        return {
            "id": clip_id,
            "title": str(body.get("title") or "") or _title(task.prompt),
            "status": clip_status,
            "audio_url": self._url(f"suno/{clip_id}.wav")
            if clip_status in ("streaming", "complete")
            else "",
            "image_url": self._url(f"suno/{clip_id}.png") if status != "SUBMITTED" else "",
            "image_large_url": self._url(f"suno/{clip_id}.png") if complete else "",
            "video_url": "",
            "is_video_pending": False,
            "model_name": "chirp-v3",
            "major_model_version": "v3",
            "created_at": time.strftime(
                "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(task.submit_ms / 1000)
            ),
            "metadata": {
                "tags": str(body.get("tags") or "demo pop"),
                "prompt": lyrics,
                "gpt_description_prompt": str(body.get("gpt_description_prompt") or ""),
                "duration": 3.0 if complete else None,
                "type": "gen",
                "error_type": "demo" if status == "FAILURE" else None,
                "error_message": FAIL_REASON["suno"] if status == "FAILURE" else None,
                "stream": True,
            },
        }

    def _goamz_object(self, task: Task) -> dict[str, Any]:
        status, _ = self._suno_phase(task)
        shown = {"NOT_START": "pending", "SUBMITTED": "pending", "QUEUED": "pending"}
        shown |= {"IN_PROGRESS": "processing", "SUCCESS": "completed", "FAILURE": "failed"}
        clips = {}
        if status != "NOT_START":
            clips = {c: self._clip(task, c, status, i) for i, c in enumerate(task.clips)}
        return {
            "task_id": task.id,
            "status": shown[status],
            "input": json.dumps({"custom_mode": "prompt" in task.body, **task.body}),
            "clips": clips,
        }

    # --- Luma -----------------------------------------------------------------------

    def _luma(self, method: str, path: str, body: dict, scenario: str) -> Reply:
        parts = path.strip("/").split("/")
        if method == "POST" and parts in (["luma", "generations"], ["luma", "generations", ""]):
            return self._luma_submit(body, scenario, None)
        if method == "POST" and path == "/luma/tasks":
            ids = body.get("ids") or []
            found = [self.tasks[i] for i in ids if i in self.tasks]
            return _json([self._luma_object(t) for t in found if t.family == "luma"])
        if len(parts) < 3 or parts[1] != "generations":
            return console_page()
        task = self.tasks.get(parts[2])
        if task is None or task.family != "luma":
            return _json({"detail": "generation not found"}, 404)
        if method == "GET" and len(parts) == 3:
            return _json(self._luma_object(task))
        if method == "POST" and parts[3:] == ["extend"]:
            return self._luma_submit(body, scenario, task)
        if method == "GET" and parts[3:] == ["download_video_url"]:
            if self._luma_state(task) != "completed":
                return _json({"detail": "generation is not completed"}, 400)
            return _json({"url": self._url(f"luma/{task.id}-video.gif")})
        return console_page()

    def _luma_submit(self, body: dict, scenario: str, parent: Task | None) -> Reply:
        prompt = str(body.get("user_prompt") or "")
        if not prompt and not body.get("image_url"):
            return _json({"detail": {"reason": "user_prompt is required", "code": 400}}, 400)
        if parent is not None and self._luma_state(parent) != "completed":
            return _json({"detail": "only a completed generation can be extended"}, 400)
        task = self._new("luma", "EXTEND" if parent else "GENERATE", prompt, scenario, body=body)
        task.parent = parent.id if parent else ""
        obj = self._luma_object(task)
        if scenario == "luma_array":
            return _json([obj])
        return _json(obj, 201 if scenario == "luma_201" else 200)

    def _luma_state(self, task: Task) -> str:
        phase = self.phase(task)
        if phase >= 1:
            return "failed" if task.scenario == "fail" else "completed"
        return "pending" if phase < 0.3 else "processing"

    def _luma_object(self, task: Task) -> dict[str, Any]:
        state = self._luma_state(task)
        video = None
        if state == "completed":
            video = {"url": self._url(f"luma/{task.id}-preview.gif"), "width": 160, "height": 90}
            video["thumbnail"] = self._url(f"luma/{task.id}-thumb.png")
            # The clean link shows up a little after completion, as on real resellers.
            if self.phase(task) >= 1.1:
                video["download_url"] = self._url(f"luma/{task.id}-video.gif")
        return {
            "id": task.id,
            "prompt": task.prompt,
            "state": state,
            "created_at": time.strftime(
                "%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(task.submit_ms / 1000)
            ),
            "video": video,
            "liked": None,
            "estimate_wait_seconds": None,
            "failure_reason": FAIL_REASON["luma"] if state == "failed" else None,
            "thumbnail": {"url": self._url(f"luma/{task.id}-thumb.png"), "width": 256}
            if video
            else None,
        }

    # --- result files ---------------------------------------------------------------

    def _file(self, name: str) -> Reply:
        folder, _, leaf = name.partition("/")
        stem, _, extension = leaf.rpartition(".")
        if folder == "upload" and extension == "png":
            return Reply(200, files.picture(stem), "image/png")
        if folder == "suno" and extension in ("wav", "png"):
            owner = next((t for t in self.tasks.values() if stem in t.clips), None)
            if owner is None:
                return _not_found()
            if owner.scenario == "expired":
                return _expired()
            if extension == "wav":
                return Reply(200, files.tune(stem), "audio/wav")
            return Reply(200, files.picture(stem), "image/png")
        task_id, variant = stem, ""
        if stem not in self.tasks and "-" in stem:
            task_id, variant = stem.rsplit("-", 1)
        task = self.tasks.get(task_id)
        if task is None or task.family != folder:
            return _not_found()
        if task.scenario == "expired":
            return _expired()
        if folder == "mj" and extension == "png":
            size = 64 if variant == "preview" else files.SIZE
            picture = files.picture(task.id, grid=task.action in _GRID, size=size)
            return Reply(200, picture, "image/png")
        if folder == "luma" and extension == "gif" and variant in ("preview", "video"):
            return Reply(200, files.clip(task.id), "image/gif")
        if folder == "luma" and extension == "png" and variant == "thumb":
            return Reply(200, files.picture(task.id), "image/png")
        return _not_found()


# --- bodies ---------------------------------------------------------------------------


def _json(data: Any, status: int = 200) -> Reply:
    return Reply(status, dumps(data).encode())


def _not_found() -> Reply:
    return Reply(404, b"not found", "text/plain; charset=utf-8")


def _expired() -> Reply:
    # What an expired signed CDN link answers.
    return Reply(403, b"AccessDenied: Request has expired", "text/plain; charset=utf-8")


def _mj_result(code: int, description: str, result: Any = None, properties: Any = None) -> Reply:
    body = {"code": code, "description": description, "result": result}
    return _json(body | {"properties": properties or {}})


def _mj_gateway_error(status: int, description: str, code: int) -> Reply:
    # new-api formats "<description> <result>" with an empty result: note the trailing space.
    return _json({"description": f"{description} ", "type": "upstream_error", "code": code}, status)


def _suno_ok(data: Any) -> Reply:
    return _json({"code": "success", "message": "", "data": data})


def _suno_error(status: int, code: str, message: str = "") -> Reply:
    return _json({"code": code, "message": message or code, "data": None}, status)


def _scenario(header: str | None, body: dict) -> str:
    if header:
        return header.strip()
    for key in ("prompt", "gpt_description_prompt", "user_prompt", "title"):
        match = MARKER_RE.search(str(body.get(key) or ""))
        if match:
            return match.group(1)
    fields = body.get("input")
    return _scenario(None, fields) if isinstance(fields, dict) else ""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _clean(prompt: str) -> str:
    return MARKER_RE.sub("", prompt).strip() or "a quiet morning"


def _title(prompt: str) -> str:
    return _clean(prompt)[:40].title()


def _lyrics(prompt: str) -> str:
    subject = _clean(prompt)
    return (
        f"[Verse]\nWaking up to {subject}\nEvery colour turning new\n\n"
        f"[Chorus]\nOh, {subject}\nSinging it back to you"
    )


def _describe_prompts(task: Task) -> str:
    subjects = ("a lighthouse at dusk", "a paper boat", "a cat on a windowsill", "a neon alley")
    return "\n\n".join(
        f"{n}\ufe0f\u20e3 {s}, soft light --ar 1:1" for n, s in enumerate(subjects, start=1)
    )


def _suggestion(parent: Task, segments: list[str]) -> str:
    index = int(segments[-1]) if segments[-1].isdigit() else 1
    if parent.action == "DESCRIBE":
        lines = _describe_prompts(parent).split("\n\n")
        return lines[min(index, 4) - 1].split(" ", 1)[1]
    return _shortened(parent.prompt)[min(index, 5) - 1]


def _shortened(prompt: str) -> list[str]:
    words = _clean(prompt).split()
    return [" ".join(words[: max(1, len(words) - i)]) for i in range(5)]


def _mj_description(task: Task) -> str:
    if task.action == "SHORTEN":
        options = "\n".join(f"{i}️⃣ {p}" for i, p in enumerate(_shortened(task.prompt), 1))
        return f"IMPORTANT TOKENS\n{_clean(task.prompt)}\n\nShortened prompts\n{options}"
    if task.action == "DESCRIBE":
        return "/describe demo.png"
    return f"/{task.action.lower()} {task.prompt}"
