"""chat's own template helpers: the composer's modes come from chat.commands, where other
apps register them, so chat's templates load no other app's tag library."""

from __future__ import annotations

from django import template

from chat import commands

register = template.Library()


@register.simple_tag
def composer_modes() -> list[tuple[str, str]]:
    """The composer's media modes: (mode, label) of each registered command offered as one."""
    return commands.modes()
