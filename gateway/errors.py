"""Errors raised by `gateway/`. Each carries a short text for the user (`user_message`,
translated when read), the HTTP status if there was one, and upstream text for logs (`detail`).

Mapping is keyed on HTTP status and error codes, never on the English wording: new-api
messages are often Chinese. The API key is scrubbed from every text an error carries
(gateway.redact).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from django.utils.translation import gettext, gettext_noop

from gateway.redact import redact

MESSAGE_MAX_CHARS = 200
DETAIL_MAX_CHARS = 500
_REQUEST_ID = re.compile(r"\s*\(request id:[^)]*\)\s*$", re.IGNORECASE)
_QUOTA_CODES = {
    "balance_not_enough",
    "billing_hard_limit_reached",
    "credit_balance_too_low",
    "insufficient_balance",
    "insufficient_credits",
}


class GatewayError(Exception):
    summary = gettext_noop("The gateway reported an error.")
    with_message = gettext_noop("The gateway reported an error: {message}")

    def __init__(
        self,
        detail: str = "",
        *,
        status: int | None = None,
        message: str = "",
        summary: str | None = None,
    ) -> None:
        self.status = status
        self.detail = redact(detail)[:DETAIL_MAX_CHARS]
        self.message = short_message(message)  # upstream's own words, for the user
        if summary is not None:
            self.summary = summary
        text = self.detail or self.summary
        super().__init__(f"HTTP {status}: {text}" if status else text)

    @property
    def user_message(self) -> str:
        if self.message and self.with_message:
            return gettext(self.with_message).format(message=self.message)
        return gettext(self.summary)


class GatewayNotConfigured(GatewayError):
    summary = gettext_noop("No gateway is configured; set GATEWAY_BASE_URL.")
    with_message = ""


class GatewayAuthError(GatewayError):
    summary = gettext_noop("The gateway rejected Parlor's API key.")
    with_message = gettext_noop("The gateway refused the request: {message}")


class GatewayQuotaError(GatewayError):
    summary = gettext_noop("The gateway account has run out of quota.")
    with_message = gettext_noop("The gateway account has run out of quota: {message}")


class GatewayRateLimited(GatewayError):
    summary = gettext_noop("The gateway is rate limiting requests; try again in a moment.")
    with_message = ""


class GatewayUnavailable(GatewayError):
    summary = gettext_noop("The gateway is unavailable right now; try again later.")
    with_message = gettext_noop("The gateway is unavailable right now: {message}")


class GatewayTimeout(GatewayError):
    summary = gettext_noop("The gateway did not answer in time.")
    with_message = ""


class GatewayBadResponse(GatewayError):
    summary = gettext_noop("The gateway sent a reply Parlor could not read.")
    with_message = ""


class GatewayStreamError(GatewayError):
    pass


class GatewayConnectionLost(GatewayError):
    summary = gettext_noop("The connection to the gateway was lost before the reply finished.")
    with_message = ""


WEB_PAGE = gettext_noop(
    "The gateway answered with a web page instead of data; check GATEWAY_BASE_URL."
)
WRONG_ADDRESS = gettext_noop("The gateway does not know this address; check GATEWAY_BASE_URL.")


def error_from_response(status: int, content_type: str, body: bytes) -> GatewayError:
    """Map a non-2xx answer, or a 2xx answer that is not what we asked for, to an error."""
    text = body.decode("utf-8", "replace").strip()
    detail = f"{content_type or 'no content type'}: {text}" if text else "empty body"
    data = _json_or_none(body)
    message, code = error_message_and_code(data) if data is not None else ("", "")
    is_html = "html" in content_type or text[:1] == "<"
    kwargs: dict[str, Any] = {"status": status, "message": message}
    if 200 <= status < 400:
        summary = WEB_PAGE if is_html or 300 <= status < 400 else None
        return GatewayBadResponse(detail, status=status, summary=summary)
    if status == 429:
        return GatewayRateLimited(detail, **kwargs)
    if status == 402 or (status == 403 and _is_quota(code, data)):
        return GatewayQuotaError(detail, **kwargs)
    if status == 401:
        return GatewayAuthError(detail, status=status)
    if status == 403:
        return GatewayAuthError(detail, **kwargs)
    if status == 404:
        return GatewayUnavailable(detail, status=status, summary=WRONG_ADDRESS)
    if status >= 500:
        return GatewayUnavailable(detail, **kwargs)
    return GatewayError(detail, **kwargs)


def error_from_exception(exc: httpx.HTTPError, *, mid_stream: bool = False) -> GatewayError:
    """Map an httpx failure; `mid_stream` once the answer has started arriving."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return GatewayTimeout(detail)
    if isinstance(exc, httpx.DecodingError):
        return GatewayBadResponse(detail)
    if mid_stream:
        return GatewayConnectionLost(detail)
    return GatewayUnavailable(detail)


def error_message_and_code(data: Any) -> tuple[str, str]:
    """Upstream message and code from any of the error shapes in docs/gateway-api.md, Common."""
    if not isinstance(data, dict):
        return "", ""
    error = data.get("error")
    if isinstance(error, dict):
        return text(error.get("message")), text(error.get("code"))
    if isinstance(error, str) and error:
        return error, text(data.get("code"))
    for key in ("description", "message"):
        if data.get(key):
            return text(data[key]), text(data.get("code"))
    detail = data.get("detail")
    if isinstance(detail, dict):
        return text(detail.get("reason") or detail.get("message")), text(detail.get("code"))
    return text(detail), ""


def short_message(message: str) -> str:
    message = _REQUEST_ID.sub("", redact(message).strip())
    if len(message) > MESSAGE_MAX_CHARS:
        message = message[: MESSAGE_MAX_CHARS - 1].rstrip() + "…"
    return message


def _is_quota(code: str, data: Any) -> bool:
    code = code.lower()
    if "quota" in code or code in _QUOTA_CODES:
        return True
    error = data.get("error") if isinstance(data, dict) else None
    return isinstance(error, dict) and "quota" in text(error.get("type")).lower()


def _json_or_none(body: bytes) -> Any:
    if not body or body.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def text(value: Any) -> str:
    """A field of a gateway's JSON as plain text: '' for missing values and objects."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


# --- task APIs (Midjourney, Suno, Luma): logical errors inside an HTTP 200 answer ---------


class GatewayTaskRejected(GatewayError):
    """The gateway refused to start or look up a task (MJ code 3/4/5/9, Suno error slug)."""

    summary = gettext_noop("The gateway refused the task.")
    with_message = gettext_noop("The gateway refused the task: {message}")


class GatewayTaskNotFound(GatewayTaskRejected):
    summary = gettext_noop("The gateway no longer knows this task.")
    with_message = ""


class GatewayQueueFull(GatewayRateLimited):
    summary = gettext_noop("The gateway's queue is full; try again in a few minutes.")
    with_message = ""


class GatewayPromptBanned(GatewayTaskRejected):
    summary = gettext_noop("The prompt contains a word the service does not allow.")
    with_message = gettext_noop("The prompt contains a word the service does not allow: {message}")


class GatewayTaskFailed(GatewayError):
    """A task the gateway accepted ended in failure (MJ FAILURE, Suno fail_reason, Luma failed)."""

    summary = gettext_noop("The task failed at the gateway.")
    with_message = gettext_noop("The task failed at the gateway: {message}")


class GatewayFeatureMissing(GatewayError):
    summary = gettext_noop("This gateway does not offer that feature.")
    with_message = ""
