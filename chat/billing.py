"""The chat spine's one hook for money: a Meter reserves before a reply goes upstream and
settles or refunds after. chat never imports usage; usage installs its meter with
`set_meter` from its AppConfig.ready(). Without one (usage not installed) replies are free.

`begin_reply` calls `reserve` inside its transaction (a refusal raises BudgetRefused and
saves nothing), `finish_reply` calls `settle` inside its transaction, `fail_reply` calls
`refund`; replies the start-up sweep interrupts are refunded through chat.signals.reply_ended.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.core.exceptions import ValidationError


class BudgetRefused(ValidationError):
    """A call refused before anything is sent upstream: over budget (code "budget") or a
    model the member's role may not use (code "model_not_allowed"). The message says why."""

    def __init__(self, message: str, code: str = "budget") -> None:
        super().__init__(message, code=code)


class Meter(Protocol):
    def reserve(
        self,
        *,
        team: Any,
        user: Any,
        membership: Any,
        model: str,
        messages: list[dict[str, str]],
        conversation: Any,
        message: Any,
    ) -> object | None: ...

    def settle(self, *, message_id: int, usage: Any | None, status: str, content: str) -> None: ...

    def refund(self, *, message_id: int) -> None: ...


class NullMeter:
    """Charges nothing and refuses nothing."""

    def reserve(self, **kwargs: Any) -> None:
        return None

    def settle(self, **kwargs: Any) -> None:
        return None

    def refund(self, **kwargs: Any) -> None:
        return None


_meter: Meter = NullMeter()


def set_meter(meter: Meter) -> None:
    global _meter
    _meter = meter


def get_meter() -> Meter:
    return _meter
