"""What the demo gateway answers: scenario names, chat bodies, SSE plans and error bodies.

Everything here is pure (no sockets). A stream "plan" is a list of steps the server runs:
`bytes` is written as one flushed HTTP chunk, a `float` is a pause in seconds and `CUT`
closes the socket on the spot. The contract is docs/gateway-api.md ("Common" to "Prices", and
"Fake gateway").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final

from demo_gateway import replies

FINGERPRINT: Final = "fp_demo0001"
MODEL_CREATED: Final = 1626777600
DEFAULT_MODEL: Final = "gpt-4o-mini"
CHAT_MODELS: Final = (
    "gpt-4o-mini",
    "demo-fast",
    "demo-slow",
    "demo-reasoner",
    "gpt-4o",
    "claude-3-5-sonnet-20241022",
    "deepseek-reasoner",
    "gpt-4-all",
    "gpt-4-gizmo-g-demo",
    "suno-v3.5",
)
# Demo models whose tokens come faster or slower than the gateway's token_delay.
MODEL_PACE: Final = {"demo-fast": 0.25, "demo-slow": 4.0}
# Demo models that think first: without a marker they answer with the `reasoning` scenario.
REASONING_MODELS: Final = frozenset({"demo-reasoner"})
NON_CHAT_MODELS: Final = (
    "mj_imagine",
    "suno_music",
    "dall-e-3",
    "tts-1",
    "whisper-1",
    "text-embedding-3-small",
    "dall-e-2",
    "gpt-image-1",
    "flux.1.1-pro",
    "gpt-3.5-turbo-instruct",
)
# Default first; billing-only ids are mixed in as on a real reseller.
DEFAULT_MODELS: Final = (
    "gpt-4o-mini",
    "demo-fast",
    "demo-slow",
    "demo-reasoner",
    "gpt-4o",
    "mj_imagine",
    "claude-3-5-sonnet-20241022",
    "suno_music",
    "dall-e-3",
    "deepseek-reasoner",
    "tts-1",
    "whisper-1",
    "text-embedding-3-small",
    "dall-e-2",
    "gpt-image-1",
    "flux.1.1-pro",
    "gpt-4-all",
    "gpt-4-gizmo-g-demo",
    "suno-v3.5",
    "gpt-3.5-turbo-instruct",
)

# How many content chunks the truncating scenarios send before stopping.
CUT_AFTER: Final = 5
LENGTH_AFTER: Final = 12
CONTENT_FILTER_AFTER: Final = 6
PING_INTERVAL: Final = 0.2
PING_COUNT: Final = 5
SPLIT_PAUSE: Final = 0.005

CHAT_SCENARIOS: Final = frozenset(
    {
        "normal",
        "usage_always",
        "slow_first_token",
        "split_bytes",
        "crlf",
        "data_no_space",
        "cut",
        "done_no_finish",
        "stream_error",
        "length",
        "content_filter",
        "reasoning",
        "think",
        "no_role_no_finish",
        "eof_no_newline",
        "tool_calls",
        "timeout",
        "html_200",
        "slow",
        "long",
    }
)
ERROR_SCENARIOS: Final = frozenset(
    {
        "http_401",
        "http_403_quota",
        "http_429",
        "http_429_empty",
        "http_500",
        "http_502_html",
        "http_503",
    }
)
OTHER_SCENARIOS: Final = frozenset({"models_legacy"})
SCENARIOS: Final = CHAT_SCENARIOS | ERROR_SCENARIOS | OTHER_SCENARIOS
_FIXED_RE = re.compile(r"fixed_tokens:(\d{1,6})")


class _Cut:
    def __repr__(self) -> str:
        return "CUT"


CUT: Final = _Cut()
Step = bytes | float | _Cut

CONSOLE_HTML: Final = (
    b'<!doctype html><html lang="zh"><head><meta charset="utf-8" />'
    b'<link rel="icon" href="/logo.png" />'
    b'<meta name="viewport" content="width=device-width, initial-scale=1" />'
    b'<meta name="theme-color" content="#ffffff" />'
    b'<meta name="description" content="OpenAI \xe6\x8e\xa5\xe5\x8f\xa3\xe8\x81\x9a\xe5\x90\x88'
    b'\xe7\xae\xa1\xe7\x90\x86" />'
    b"<title>New API</title>"
    b'<script type="module" crossorigin src="/assets/index-DemoGw01.js"></script>'
    b'<link rel="stylesheet" crossorigin href="/assets/index-DemoGw01.css">'
    b"</head><body><noscript>You need to enable JavaScript to run this app.</noscript>"
    b'<div id="root"></div></body></html>'
)

PROXY_502_HTML: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def is_known(name: str) -> bool:
    return name in SCENARIOS or _FIXED_RE.fullmatch(name) is not None


def last_user_text(body: Any) -> str:
    """Text of the last user message of a chat request body ("" if there is none)."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def select(header: str | None, user_text: str, default: str | None) -> str:
    """First match wins: X-Demo-Scenario header, `[demo:NAME]` marker, gateway default."""
    if header:
        return header.strip()
    match = replies.MARKER_RE.search(user_text)
    if match:
        return match.group(1)
    return default or "normal"


def for_model(scenario: str, model: str) -> str:
    """A reasoning demo model turns the plain `normal` scenario into `reasoning`."""
    if scenario == "normal" and model in REASONING_MODELS:
        return "reasoning"
    return scenario


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# --- error bodies (shape A, §1.3) ---------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str | None = "application/json; charset=utf-8"


def refuse_text_request(
    body: Any, models: list[str], request_id: str, *, required: str = ""
) -> Reply | None:
    """What new-api answers a chat or completions request it will not run, in its order: not a
    JSON object, no model, a missing `required` field, a model no channel serves; else None."""
    if not isinstance(body, dict):
        return error_a(400, "invalid request body", request_id, code="invalid_text_request")
    model = body.get("model") if isinstance(body.get("model"), str) else ""
    if not model:
        return error_a(400, "未指定模型名称，模型名称不能为空", request_id)  # noqa: RUF001
    if required and required not in body:
        return error_a(400, f"field {required} is required", request_id)
    if model not in models:
        return error_a(503, f"当前分组 default 下对于模型 {model} 无可用渠道", request_id)
    return None


def error_a(
    status: int, message: str, request_id: str, *, err_type: str = "new_api_error", code: Any = ...
) -> Reply:
    """Shape A. Without `code`, the middleware variant that omits `param` and `code`."""
    error: dict[str, Any] = {"message": f"{message} (request id: {request_id})", "type": err_type}
    if code is not ...:
        error["param"] = ""
        error["code"] = code
    return Reply(status, dumps({"error": error}).encode())


def invalid_url(method: str, path: str) -> Reply:
    # new-api's NoRoute handler: no request id suffix, invalid_request_error, empty code.
    error = {
        "message": f"Invalid URL ({method} {path})",
        "type": "invalid_request_error",
        "param": "",
        "code": "",
    }
    return Reply(404, dumps({"error": error}).encode())


def console_page() -> Reply:
    return Reply(200, CONSOLE_HTML, "text/html; charset=utf-8")


def auth_error(authorization: str | None, request_id: str) -> Reply:
    message = "未提供令牌" if not authorization else "无效的令牌"
    return error_a(401, message, request_id)


def scenario_error(name: str, model: str, request_id: str) -> Reply:
    if name == "http_401":
        return error_a(401, "该令牌已过期", request_id)
    if name == "http_403_quota":
        return error_a(403, "user quota is not enough", request_id, code="insufficient_user_quota")
    if name == "http_429":
        return error_a(429, "您已达到请求数限制：1分钟内最多请求3次", request_id)  # noqa: RUF001
    if name == "http_429_empty":
        return Reply(429, b"", None)  # new-api's global limiter: c.Status(429), no body
    if name == "http_500":
        return error_a(
            500,
            "获取渠道失败: database is locked",
            request_id,
            code="get_channel_failed",
        )
    if name == "http_502_html":
        return Reply(502, PROXY_502_HTML, "text/html")
    if name == "http_503":
        return error_a(503, f"当前分组 default 下对于模型 {model} 无可用渠道", request_id)
    raise ValueError(name)


def unknown_scenario(name: str, request_id: str) -> Reply:
    return error_a(
        400,
        f"unknown demo scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}, fixed_tokens:N",
        request_id,
        err_type="invalid_request_error",
        code="demo_unknown_scenario",
    )


# --- models (§2.1) ------------------------------------------------------------------


def models_body(models: list[str], *, legacy: bool = False) -> bytes:
    return dumps(
        {"success": True, "data": [model_object(m, legacy=legacy) for m in models]}
        if legacy
        else {"success": True, "object": "list", "data": [model_object(m) for m in models]}
    ).encode()


def model_object(model_id: str, *, legacy: bool = False) -> dict[str, Any]:
    if legacy:
        return {
            "id": model_id,
            "object": "model",
            "created": MODEL_CREATED,
            "owned_by": "custom",
            "permission": [],
            "root": model_id,
            "parent": None,
        }
    return {
        "id": model_id,
        "object": "model",
        "created": MODEL_CREATED,
        "owned_by": "custom",
        "supported_endpoint_types": ["openai"],
    }


# --- chat content per scenario ------------------------------------------------------


def content_tokens(scenario: str, user_text: str) -> list[str]:
    """The `delta.content` pieces a scenario streams (reasoning not included)."""
    if scenario == "split_bytes":
        return replies.tokenize(replies.SPLIT_BYTES_REPLY)
    if scenario == "long":
        return replies.tokenize(replies.long_reply())
    if scenario == "no_role_no_finish":
        return list(replies.SUNO_CHAT_REPLY)
    if scenario == "tool_calls":
        return []
    fixed = _FIXED_RE.fullmatch(scenario)
    if fixed:
        return replies.fixed_tokens(int(fixed.group(1)))
    tokens = replies.demo_tokens(user_text)
    if scenario in ("cut", "done_no_finish"):
        return tokens[:CUT_AFTER]
    if scenario == "stream_error":
        return tokens[:1]
    if scenario == "length":
        return tokens[:LENGTH_AFTER]
    if scenario == "content_filter":
        return tokens[:CONTENT_FILTER_AFTER]
    if scenario == "think":
        reasoning = replies.tokenize(replies.REASONING_TEXT)
        return ["<think>\n", *reasoning, "\n</think>\n", *tokens]
    return tokens


def reply_text(scenario: str, user_text: str) -> str:
    return "".join(content_tokens(scenario, user_text))


def finish_reason(scenario: str) -> str | None:
    if scenario in ("cut", "done_no_finish", "stream_error", "no_role_no_finish"):
        return None
    if scenario in ("length", "content_filter", "tool_calls"):
        return scenario
    return "stop"


def estimate_prompt_tokens(body: Any) -> int:
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return 1
    chars = sum(len(content_text(m.get("content"))) + 4 for m in messages if isinstance(m, dict))
    return max(1, chars // 4)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


_TOOL_CALL_ARGS = ('{"city":', '"Paris"}')


# --- non-stream (§2.2) --------------------------------------------------------------


def is_title_request(body: Any) -> bool:
    """Parlor asking for a conversation's title (chat.titles): its system message says so."""
    messages = body.get("messages") if isinstance(body, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    return (
        isinstance(first, dict)
        and first.get("role") == "system"
        and content_text(first.get("content")).startswith(replies.TITLE_ASK)
    )


def completion_body(scenario: str, body: Any, *, chat_id: str, created: int, model: str) -> bytes:
    if scenario in ("normal", "reasoning") and is_title_request(body):
        tokens = replies.tokenize(replies.demo_title(last_user_text(body)))
    else:
        tokens = content_tokens(scenario, last_user_text(body))
    text = "".join(tokens)
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if scenario == "reasoning":
        message["reasoning_content"] = replies.REASONING_TEXT
    if scenario == "tool_calls":
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": "call_demo1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": "".join(_TOOL_CALL_ARGS)},
            }
        ]
    message["refusal"] = None
    message["annotations"] = []
    choice: dict[str, Any] = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason(scenario) or "stop",
    }
    if scenario == "no_role_no_finish":
        # Suno-API's non-stream quirk: the text sits in `delta`, not `message`.
        choice = {"index": 0, "delta": {"content": text}, "finish_reason": None}
    prompt_tokens = estimate_prompt_tokens(body)
    full_usage = {
        **usage(prompt_tokens, len(tokens)),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    return dumps(
        {
            "id": chat_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [choice],
            "usage": full_usage,
            "system_fingerprint": FINGERPRINT,
        }
    ).encode()


# --- streaming (§2.2.1) -------------------------------------------------------------


class ChunkMaker:
    """Builds `chat.completion.chunk` JSON by templating: this is the benchmark's hot path."""

    def __init__(self, *, chat_id: str, created: int, model: str, usage_null: bool) -> None:
        self._head = (
            f'{{"id":{dumps(chat_id)},"object":"chat.completion.chunk","created":{created},'
            f'"model":{dumps(model)},"system_fingerprint":"{FINGERPRINT}","choices":'
        )
        self._usage_tail = ',"usage":null}' if usage_null else "}"

    def delta(self, delta: str, finish: str | None = None) -> str:
        """`delta` is already-encoded JSON."""
        reason = "null" if finish is None else dumps(finish)
        return (
            f'{self._head}[{{"index":0,"delta":{delta},"logprobs":null,'
            f'"finish_reason":{reason}}}]{self._usage_tail}'
        )

    def content(self, text: str) -> str:
        return self.delta(f'{{"content":{dumps(text)}}}')

    def usage(self, usage_obj: dict[str, int]) -> str:
        return f'{self._head}[],"usage":{dumps(usage_obj)}}}'

    def bare(self, text: str) -> str:
        """Suno-API chat style chunk: no role, no fingerprint, no logprobs."""
        return (
            self._head.replace(f'"system_fingerprint":"{FINGERPRINT}",', "")
            + f'[{{"index":0,"delta":{{"content":{dumps(text)}}},"finish_reason":null}}]}}'
        )


@dataclass
class StreamRequest:
    scenario: str
    body: Any
    chat_id: str
    created: int
    model: str
    token_delay: float


def stream_plan(req: StreamRequest) -> list[Step]:
    """The exact writes and pauses of one streamed answer."""
    scenario = req.scenario
    body = req.body if isinstance(req.body, dict) else {}
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    maker = ChunkMaker(
        chat_id=req.chat_id, created=req.created, model=req.model, usage_null=include_usage
    )
    prefix = "data:" if scenario == "data_no_space" else "data: "
    sep = "\r\n\r\n" if scenario == "crlf" else "\n\n"
    delay = req.token_delay * (10 if scenario == "slow" else 1) * MODEL_PACE.get(req.model, 1)

    def event(payload: str) -> bytes:
        return (prefix + payload + sep).encode()

    tokens = content_tokens(scenario, last_user_text(body))
    steps: list[Step] = []
    if scenario == "slow_first_token":
        for _ in range(PING_COUNT):
            steps += [b": PING\n\n", PING_INTERVAL]

    if scenario == "no_role_no_finish":
        for i, char in enumerate(tokens):
            if i and delay:
                steps.append(delay)
            steps.append(event(maker.bare(char)))
        steps.append(event("[DONE]"))
        return steps

    steps.append(event(maker.delta('{"role":"assistant","content":""}')))
    if scenario == "reasoning":
        for tok in replies.tokenize(replies.REASONING_TEXT):
            if delay:
                steps.append(delay)
            steps.append(event(maker.delta(f'{{"content":null,"reasoning_content":{dumps(tok)}}}')))
    if scenario == "tool_calls":
        steps += _tool_call_steps(maker, event, delay)
    for tok in tokens:
        if delay:
            steps.append(delay)
        steps.append(event(maker.content(tok)))

    if scenario == "cut":
        steps.append(CUT)
        return steps
    if scenario == "stream_error":
        error = {"error": {"message": "上游错误", "type": "upstream_error"}}
        steps += [event(dumps(error)), event("[DONE]")]
        return steps
    reason = finish_reason(scenario)
    if reason is not None:
        steps.append(event(maker.delta("{}", reason)))
    if include_usage or scenario == "usage_always":
        completion = len(tokens) + (
            len(replies.tokenize(replies.REASONING_TEXT)) if scenario == "reasoning" else 0
        )
        steps.append(event(maker.usage(usage(estimate_prompt_tokens(body), completion))))
    steps.append(prefix.encode() + b"[DONE]" if scenario == "eof_no_newline" else event("[DONE]"))
    if scenario == "split_bytes":
        return _split(steps)
    return steps


def _tool_call_steps(maker: ChunkMaker, event: Any, delay: float) -> list[Step]:
    first = {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_demo1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
        ]
    }
    steps: list[Step] = [event(maker.delta(dumps(first)))]
    for fragment in _TOOL_CALL_ARGS:
        if delay:
            steps.append(delay)
        part = {"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}
        steps.append(event(maker.delta(dumps(part))))
    return steps


def _split(steps: list[Step]) -> list[Step]:
    """Cut every event in two: inside its first multi-byte character if it has one,
    else in the middle of the line, with a pause so the reader sees the halves apart."""
    out: list[Step] = []
    for step in steps:
        if not isinstance(step, bytes) or len(step) < 2:
            out.append(step)
            continue
        at = next((i + 1 for i, byte in enumerate(step) if byte >= 0xC0), len(step) // 2)
        out += [step[:at], SPLIT_PAUSE, step[at:]]
    return out


# GET /api/pricing (docs/gateway-api.md, "Prices"), as new-api publishes it: quota_type 0 per token
# (USD per 1M prompt tokens = model_ratio * 2, completion = that * completion_ratio), 1 a fixed
# USD model_price per call. Made-up but plausible numbers, so budgets work on `make run`.
# (name, quota_type, model_ratio, model_price, completion_ratio), as new-api publishes them:
# every model /v1/models lists and every task action Parlor charges has one.
PRICING: Final = (
    ("gpt-4o-mini", 0, 0.075, 0, 4),
    ("demo-fast", 0, 0.05, 0, 2),
    ("demo-slow", 0, 0.5, 0, 2),
    ("demo-reasoner", 0, 0.55, 0, 4),
    ("gpt-4o", 0, 1.25, 0, 4),
    ("claude-3-5-sonnet-20241022", 0, 1.5, 0, 5),
    ("deepseek-reasoner", 0, 0.275, 0, 4),
    ("dall-e-3", 1, 0, 0.04, 1),
    ("tts-1", 0, 7.5, 0, 1),
    ("whisper-1", 0, 15, 0, 1),
    ("text-embedding-3-small", 0, 0.01, 0, 1),
    ("mj_imagine", 1, 0, 0.1, 1),
    ("mj_variation", 1, 0, 0.1, 1),
    ("mj_reroll", 1, 0, 0.1, 1),
    ("mj_blend", 1, 0, 0.1, 1),
    ("mj_upscale", 1, 0, 0.05, 1),
    ("mj_describe", 1, 0, 0.05, 1),
    ("mj_zoom", 1, 0, 0.1, 1),
    ("mj_shorten", 1, 0, 0.05, 1),
    ("mj_modal", 1, 0, 0.1, 1),
    ("mj_inpaint", 1, 0, 0.1, 1),
    ("mj_custom_zoom", 1, 0, 0.1, 1),
    ("mj_high_variation", 1, 0, 0.1, 1),
    ("mj_low_variation", 1, 0, 0.1, 1),
    ("mj_pan", 1, 0, 0.1, 1),
    ("swap_face", 1, 0, 0.05, 1),
    ("mj_uploads", 1, 0, 0.01, 1),
    ("suno_music", 1, 0, 0.1, 1),
    ("suno_lyrics", 1, 0, 0.01, 1),
    ("luma_generate", 1, 0, 0.4, 1),
    ("luma_extend", 1, 0, 0.4, 1),
    ("dall-e-2", 1, 0, 0.02, 1),
    ("gpt-image-1", 1, 0, 0.042, 1),
    ("flux.1.1-pro", 1, 0, 0.04, 1),
    ("gpt-4-all", 0, 15, 0, 2),
    ("gpt-4-gizmo-g-demo", 0, 15, 0, 2),
    ("suno-v3.5", 0, 5, 0, 1),
    ("gpt-3.5-turbo-instruct", 0, 0.75, 0, 1.33),
)


def pricing_body() -> bytes:
    data = [
        {
            "model_name": name,
            "quota_type": quota_type,
            "model_ratio": ratio,
            "model_price": price,
            "completion_ratio": completion_ratio,
            "owner_by": "demo",
            "enable_groups": ["default"],
        }
        for name, quota_type, ratio, price, completion_ratio in PRICING
    ]
    return dumps({"success": True, "data": data, "group_ratio": {"default": 1}}).encode()
