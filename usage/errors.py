"""The money path's one exception, raised before anything goes upstream."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class BudgetRefused(ValidationError):
    """A call refused before anything is sent upstream: over budget (code "budget") or a
    model the member's role may not use (code "model_not_allowed"). The message says why."""

    def __init__(self, message: str, code: str = "budget") -> None:
        super().__init__(message, code=code)
