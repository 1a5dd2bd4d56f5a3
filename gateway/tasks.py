"""What the task APIs (Midjourney, Suno, Luma) hand back, and the request helper they share.

Every call goes through the shared `AsyncClient` of `gateway.client`. Numbers from the
gateway arrive as "45%", "45", 45.0, "" or null, and times as epoch seconds or milliseconds:
the parsers here accept all of them and clamp. See docs/gateway-tasks.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from gateway.client import get_client
from gateway.errors import (
    GatewayBadResponse,
    GatewayError,
    GatewayTaskFailed,
    GatewayTaskNotFound,
    GatewayTaskRejected,
    error_from_exception,
    error_from_response,
    error_message_and_code,
    text,
)
from gateway.redact import redact_json

QUEUED, SUBMITTED, RUNNING = "queued", "submitted", "running"
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
_NOT_FOUND_CODES = ("task_no_found", "task_not_found", "task_not_exist", "task_origin_not_exist")
# Epoch values above this are milliseconds (1e11 s is the year 5138).
_MS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True, slots=True)
class Button:
    """A Midjourney button: send `custom_id` back verbatim; `label` may be empty."""

    custom_id: str
    label: str = ""
    emoji: str = ""


@dataclass(frozen=True, slots=True)
class TaskSubmitted:
    task_id: str
    queued: bool = False  # MJ code 22: accepted behind other tasks
    needs_modal: bool = False  # MJ code 21 "Waiting for window confirm": call modal()
    description: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TaskStatus:
    task_id: str
    status: str  # one of QUEUED ... CANCELLED
    progress: int = 0  # 0-100
    result_urls: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()
    fail_reason: str = ""
    needs_modal: bool = False
    raw_status: str = ""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def error(self) -> GatewayTaskFailed | None:
        """The failure as a GatewayError (plain words for the user), or None."""
        if self.status != FAILED:
            return None
        return GatewayTaskFailed(self.fail_reason, message=self.fail_reason)


def parse_progress(value: Any) -> int:
    """0-100 from "45%", "45", 45.5, "" or None; anything unreadable is 0."""
    if isinstance(value, str):
        value = value.strip().rstrip("%").strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    if math.isnan(number):
        return 0
    return max(0, min(100, int(number)))


def parse_int(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return default


def parse_epoch(value: Any) -> datetime | None:
    """A UTC datetime from epoch seconds or milliseconds; None for 0, null or junk."""
    number = parse_int(value)
    if number <= 0:
        return None
    if number > _MS_THRESHOLD:
        number //= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def request(method: str, path: str, *, json: Any = None) -> httpx.Response:
    try:
        return await get_client().request(method, path, json=json)
    except httpx.HTTPError as exc:
        raise error_from_exception(exc) from None


async def call(method: str, path: str, *, json: Any = None) -> Any:
    """The parsed JSON of a 2xx JSON answer (None if empty); otherwise a GatewayError.

    A 4xx in a task family's own shape (MJ `{"description","code"}`, Suno `{"code":"slug"}`)
    becomes GatewayTaskRejected, or GatewayTaskNotFound for the "no such task" codes.
    """
    response = await request(method, path, json=json)
    content_type = response.headers.get("content-type", "")
    if response.is_success and not response.content.strip():
        return None  # a bare proxy's "no such task", trueai's cancel
    if response.is_success and "json" in content_type:
        try:
            # Every text of a task (descriptions, prompts echoed, failure reasons, result
            # and upload links) is read from here: the gateway's key never gets past it.
            return redact_json(response.json())
        except ValueError:
            pass
    error = error_from_response(response.status_code, content_type, response.content)
    if type(error) is GatewayError:  # a plain 4xx: look at the body's own code
        raise rejected(_body(response), detail=error.detail, status=error.status) from None
    raise error


def rejected(data: Any, *, detail: str = "", status: int | None = None) -> GatewayError:
    message, code = error_message_and_code(data)
    message = message.strip()
    kind = GatewayTaskRejected
    if any(slug in f"{code} {message}".lower() for slug in _NOT_FOUND_CODES):
        kind = GatewayTaskNotFound
    return kind(detail or f"{code}: {message}", status=status, message=message or code)


def not_json(response_data: Any) -> GatewayBadResponse:
    return GatewayBadResponse(f"unexpected answer: {text(response_data)[:200] or response_data!r}")


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
