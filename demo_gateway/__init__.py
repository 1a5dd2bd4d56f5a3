"""Parlor's demo gateway: a loopback fake of an OpenAI-compatible (new-api) reseller.

`make run` starts it when no real gateway is configured; tests drive it over a real socket
and inject failures with scenarios (header `X-Demo-Scenario`, a `[demo:NAME]` marker in the
last user message, or `DemoGateway.scenario`).
"""

from demo_gateway.replies import demo_reply, demo_tokens
from demo_gateway.scenarios import SCENARIOS, content_tokens, reply_text
from demo_gateway.server import DemoGateway, RecordedRequest, start_in_thread

__all__ = [
    "SCENARIOS",
    "DemoGateway",
    "RecordedRequest",
    "content_tokens",
    "demo_reply",
    "demo_tokens",
    "reply_text",
    "start_in_thread",
]
