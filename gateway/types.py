"""Values `gateway/` hands to the rest of Parlor."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Whatever the gateway reports is clamped to what a reply can sanely use: no model writes ten
# million tokens at once, and priced at any real rate that many still fit the money columns
# (2**31 tokens made a charge overflow numeric(14, 6) on PostgreSQL; -1 or 2**63 the counts).
MAX_TOKEN_COUNT = 10_000_000


def token_count(value: Any) -> int | None:
    """A token count as the gateway reported it, clamped to 0..MAX_TOKEN_COUNT; None when it
    is not a number (a string, NaN, infinity, a fraction, true/false)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return min(max(value, 0), MAX_TOKEN_COUNT)


@dataclass(frozen=True, slots=True)
class ChatDelta:
    content: str = ""
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the gateway reported them, each within 0..10_000_000 (gateway.chat.
    MAX_TOKEN_COUNT) or None when missing or not a number."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None


@dataclass(frozen=True, slots=True)
class ChatEnd:
    """The last item of a chat stream. `finish_reason` None means the gateway closed the
    stream ([DONE]) without saying the answer was complete: treat it as interrupted."""

    finish_reason: str | None
    usage: Usage | None
