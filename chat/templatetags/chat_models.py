"""The model picker's groups (conversation page, home page): the models offered, grouped by
who makes them, each group an <optgroup> with a translated label."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from gateway.catalogue import group_for_picker

register = template.Library()

# gateway.catalogue's PICKER_GROUPS keys -> the optgroup label.
LABELS = {
    "gpt": _("OpenAI GPT"),
    "o_series": _("OpenAI o-series"),
    "claude": "Claude",
    "gemini": "Gemini",
    "deepseek": "DeepSeek",
    "qwen": "Qwen",
    "llama": "Llama",
    "other": _("Other models"),
}


@register.filter
def model_groups(models: list[str]) -> list[tuple[str, list[str]]]:
    """`{% for label, group in models|model_groups %}`: (label, model ids) in picker order."""
    return [(str(LABELS.get(key, key)), members) for key, members in group_for_picker(models)]
