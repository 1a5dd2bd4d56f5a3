"""The demo gateway's legacy completions route, POST /v1/completions (docs/gateway-api.md,
"Completions"), for instruct models such as gpt-3.5-turbo-instruct.

The text streams as `choices[0].text` fragments; the usage chunk, when the request asks for
one with `stream_options.include_usage`, is chat-shaped (`"object": "chat.completion.chunk"`,
`choices: []`), as new-api synthesises it on this route. `max_tokens` (default 16, as OpenAI's)
cuts the text with finish_reason "length"; the first `stop` sequence ends it before the
sequence with "stop". Pure functions, then the handler the server routes to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from demo_gateway import replies, scenarios
from demo_gateway.scenarios import CUT, Reply, Step, dumps

if TYPE_CHECKING:
    from demo_gateway.server import DemoGateway, RecordedRequest

PATH = "/v1/completions"
DEFAULT_MAX_TOKENS = 16
MAX_STOP_SEQUENCES = 4
# What the demo's instruct model writes after any prompt: plain text, a list, then "END".
CONTINUATION = (
    " and so the demo instruct model carries on from where your prompt stopped. "
    "It does not chat: it completes, one word at a time, until it has written max tokens "
    "or meets a stop sequence.\n\n"
    "1. A short prompt gets the same continuation as a long one.\n"
    "2. A stop sequence such as END ends the text just before it.\n"
    "3. Max tokens cuts it wherever it has got to.\n\n"
    "END\n\n"
    "Whatever follows END is only seen without that stop sequence."
)


def prompt_text(body: Any) -> str:
    """The prompt of a completions request: a string, or the strings of a list joined."""
    prompt = body.get("prompt") if isinstance(body, dict) else None
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n".join(p for p in prompt if isinstance(p, str))
    return ""


def max_tokens_of(body: dict[str, Any]) -> int:
    value = body.get("max_tokens")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return DEFAULT_MAX_TOKENS
    return value


def stops_of(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list):
        return []
    return [s for s in stop if isinstance(s, str) and s][:MAX_STOP_SEQUENCES]


def base_tokens(scenario: str, prompt: str) -> list[str]:
    fixed = scenarios._FIXED_RE.fullmatch(scenario)
    if fixed:
        return replies.fixed_tokens(int(fixed.group(1)))
    tokens = replies.tokenize(CONTINUATION)
    if scenario in ("cut", "done_no_finish"):
        return tokens[: scenarios.CUT_AFTER]
    if scenario == "stream_error":
        return tokens[:1]
    return tokens


def completion_tokens(
    scenario: str, prompt: str, *, max_tokens: int, stop: list[str]
) -> tuple[list[str], str]:
    """The text fragments the model writes and its finish reason: the first stop sequence
    ends the text before it ("stop"), else max_tokens cuts it ("length")."""
    tokens = base_tokens(scenario, prompt)
    kept = tokens[:max_tokens]
    text = "".join(kept)
    cuts = [at for at in (text.find(s) for s in stop) if at >= 0]
    if cuts:
        return replies.tokenize(text[: min(cuts)]), "stop"
    return kept, "length" if len(tokens) > max_tokens else "stop"


def prompt_tokens(prompt: str) -> int:
    return max(1, len(prompt) // 4)


def _head(cmpl_id: str, created: int, model: str) -> dict[str, Any]:
    return {"id": cmpl_id, "object": "text_completion", "created": created, "model": model}


def text_chunk(cmpl_id: str, created: int, model: str, text: str, finish: str | None = None) -> str:
    choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
    return dumps({**_head(cmpl_id, created, model), "choices": [choice]})


def usage_chunk(cmpl_id: str, created: int, model: str, usage: dict[str, int]) -> str:
    """new-api's usage chunk on this route: chat-shaped, with no choices."""
    head = {"id": cmpl_id, "object": "chat.completion.chunk", "created": created, "model": model}
    return dumps({**head, "choices": [], "usage": usage})


def completion_body(
    scenario: str, body: dict[str, Any], *, cmpl_id: str, created: int, model: str
) -> bytes:
    prompt = prompt_text(body)
    tokens, reason = completion_tokens(
        scenario, prompt, max_tokens=max_tokens_of(body), stop=stops_of(body)
    )
    choice = {"text": "".join(tokens), "index": 0, "logprobs": None, "finish_reason": reason}
    usage = scenarios.usage(prompt_tokens(prompt), len(tokens))
    return dumps({**_head(cmpl_id, created, model), "choices": [choice], "usage": usage}).encode()


def stream_plan(
    scenario: str, body: dict[str, Any], *, cmpl_id: str, created: int, model: str, delay: float
) -> list[Step]:
    """The writes and pauses of one streamed completion."""
    prompt = prompt_text(body)
    tokens, reason = completion_tokens(
        scenario, prompt, max_tokens=max_tokens_of(body), stop=stops_of(body)
    )
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    def event(payload: str) -> bytes:
        return f"data: {payload}\n\n".encode()

    steps: list[Step] = []
    for token in tokens:
        if delay:
            steps.append(delay)
        steps.append(event(text_chunk(cmpl_id, created, model, token)))
    if scenario == "cut":
        return [*steps, CUT]
    if scenario == "stream_error":
        error = {"error": {"message": "上游错误", "type": "upstream_error"}}
        return [*steps, event(dumps(error)), event("[DONE]")]
    if scenario != "done_no_finish":
        steps.append(event(text_chunk(cmpl_id, created, model, "", reason)))
    if include_usage or scenario == "usage_always":
        usage = scenarios.usage(prompt_tokens(prompt), len(tokens))
        steps.append(event(usage_chunk(cmpl_id, created, model, usage)))
    steps.append(event("[DONE]"))
    return steps


class Route(Protocol):
    """A route handler of DemoGateway (as its own `_chat`)."""

    def __call__(
        self,
        request: RecordedRequest,
        scenario: str,
        writer: asyncio.StreamWriter,
        request_id: str,
        keep_alive: bool,
    ) -> Coroutine[Any, Any, bool]: ...


def handler(gateway: DemoGateway) -> Route:
    """The route's handler for `gateway` (its models, pace and sockets)."""

    async def handle(
        request: RecordedRequest,
        scenario: str,
        writer: asyncio.StreamWriter,
        request_id: str,
        keep_alive: bool,
    ) -> bool:
        body = request.json
        refused = scenarios.refuse_text_request(body, gateway.models, request_id, required="prompt")
        if refused is not None:
            return await gateway._send(writer, refused, request_id, keep_alive)
        model = body["model"]
        cmpl_id, created = f"cmpl-{request_id}", int(time.time())
        if body.get("stream") is not True:
            payload = completion_body(scenario, body, cmpl_id=cmpl_id, created=created, model=model)
            return await gateway._send(writer, Reply(200, payload), request_id, keep_alive)
        delay = gateway.token_delay * (10 if scenario == "slow" else 1)
        plan = stream_plan(
            scenario, body, cmpl_id=cmpl_id, created=created, model=model, delay=delay
        )
        return await gateway._stream(writer, plan, request_id, keep_alive)

    return handle
