"""chat's own template helpers: the composer's modes come from chat.commands, where other
apps register them, so chat's templates load no other app's tag library."""

from __future__ import annotations

from typing import Any

from django import template

from chat import commands, completions

register = template.Library()


@register.simple_tag
def composer_modes() -> list[tuple[str, str]]:
    """The composer's modes: "Complete" when the gateway lists an instruct model
    (chat.completions), then (mode, label) of each registered command offered as one."""
    modes = commands.modes()
    if completions.instruct_models():
        modes.insert(0, (completions.MODE, str(completions.LABEL)))
    return modes


@register.simple_tag
def complete_options() -> dict[str, Any]:
    """What the Complete mode's options offer (templates/chat/_complete.html): no models, no
    options."""
    return {
        "models": completions.instruct_models(),
        "default_max_tokens": completions.DEFAULT_MAX_TOKENS,
        "max_tokens": completions.MAX_TOKENS,
        "max_stop": completions.MAX_STOP_SEQUENCES,
    }
