"""chat's own template helpers: the composer's modes come from chat.commands, where other
apps register them, so chat's templates load no other app's tag library."""

from __future__ import annotations

from typing import Any

from django import template

from chat import commands, completions

register = template.Library()


def _instruct_models(context: template.Context) -> list[str]:
    """The Complete mode's models: given by chat.frames (rendered on the event loop, no I/O),
    else read now (a page)."""
    given = context.get("complete_models")
    return list(given) if given is not None else completions.instruct_models()


@register.simple_tag(takes_context=True)
def composer_modes(context: template.Context) -> list[tuple[str, str]]:
    """The composer's modes: "Complete" when the gateway lists an instruct model
    (chat.completions), then (mode, label) of each registered command offered as one."""
    modes = commands.modes()
    if _instruct_models(context) and serves_family("completions"):
        modes.insert(0, (completions.MODE, str(completions.LABEL)))
    return modes


@register.simple_tag(takes_context=True)
def complete_options(context: template.Context) -> dict[str, Any]:
    """What the Complete mode's options offer (templates/chat/_complete.html): no models, no
    options."""
    return {
        "models": _instruct_models(context),
        "default_max_tokens": completions.DEFAULT_MAX_TOKENS,
        "max_tokens": completions.MAX_TOKENS,
        "max_stop": completions.MAX_STOP_SEQUENCES,
    }


@register.simple_tag
def serves_family(family: str) -> bool:
    """Whether the gateway serves `family` (config.gateway_check: only a found absence
    hides), for an entry point rendered from async code too, where no context processor
    runs: `{% serves_family "audio_speech" as can_speak %}`."""
    from config.gateway_check import serves

    return serves().get(family, False)
