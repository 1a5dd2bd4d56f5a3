"""Values `gateway/` hands to the rest of Parlor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChatDelta:
    content: str = ""
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the gateway reported them, each within 0..2_147_483_647 or None."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None


@dataclass(frozen=True, slots=True)
class ChatEnd:
    """The last item of a chat stream. `finish_reason` None means the gateway closed the
    stream ([DONE]) without saying the answer was complete: treat it as interrupted."""

    finish_reason: str | None
    usage: Usage | None
