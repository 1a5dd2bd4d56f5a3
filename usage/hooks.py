"""usage's side of the hooks other apps leave: the chat Meter, the sweep's reply_ended, and
budget changes copied into this month's counters."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from usage import services
from usage.models import TeamBudget

COMPLETE = "complete"


class UsageMeter:
    """chat.billing's Meter: one UsageRecord per reply, linked to its message."""

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
    ) -> Any:
        return services.reserve_chat(
            team=team,
            user=user,
            role=getattr(membership, "role", ""),
            model=model,
            messages=messages,
            conversation=conversation,
            message=message,
        )

    def settle(self, *, message_id: int, usage: Any | None, status: str, content: str) -> None:
        """A complete reply, or one the gateway reported usage for, is charged; a reply that
        failed, was stopped or cut off without a report is refunded."""
        record = services.pending_reply_record(message_id)
        if record is None:
            return
        if status == COMPLETE or (usage is not None and usage.prompt_tokens is not None):
            services.settle_chat(record, usage=usage, content=content)
        else:
            services.refund(record)

    def refund(self, *, message_id: int) -> None:
        record = services.pending_reply_record(message_id)
        if record is not None:
            services.refund(record)


def refund_ended_reply(sender: Any, *, message: Any, status: str, **kwargs: Any) -> None:
    """chat.signals.reply_ended: the sweep interrupted a reply whose process died."""
    with transaction.atomic():
        UsageMeter().settle(message_id=message.pk, usage=None, status=status, content="")


def budget_saved(sender: Any, *, instance: TeamBudget, **kwargs: Any) -> None:
    services.apply_budget(instance)
