"""Template helpers of job cards; none of them queries the database except
`conversation_jobs`, which loads every card of a conversation in a fixed number of queries."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from media_jobs.models import MediaFile, MediaJob

register = template.Library()

# Midjourney customIds whose press opens a form first (the engine calls action then modal).
_MASK = re.compile(r"Inpaint", re.I)
_PROMPT = re.compile(r"CustomZoom|Remix|PicReader|Modal", re.I)
# Names for buttons the gateway sends with an emoji only (reroll, pan arrows, ...).
_EMOJI_NAMES = {
    "🔄": gettext_lazy("Reroll"),
    "⬅️": gettext_lazy("Pan left"),
    "➡️": gettext_lazy("Pan right"),
    "⬆️": gettext_lazy("Pan up"),
    "⬇️": gettext_lazy("Pan down"),
    "🔍": gettext_lazy("Zoom"),
}


@register.simple_tag
def new_key() -> str:
    """A fresh idempotency key for one form."""
    return str(uuid.uuid4())


@register.filter
def files_of(job: MediaJob, kind: str) -> list[MediaFile]:
    return [f for f in job.files.all() if f.kind == kind]


@register.filter
def is_gif(media: MediaFile) -> bool:
    return media.content_type == "image/gif"


@register.filter
def button_text(button: dict[str, Any]) -> str:
    """What the button shows: the gateway's label, else its emoji."""
    label = str(button.get("label") or "").strip()
    emoji = str(button.get("emoji") or "").strip()
    return " ".join(part for part in (emoji, label) if part) or "?"


@register.filter
def button_aria(button: dict[str, Any]) -> str:
    """An accessible name for icon-only buttons ("" when the label says it already)."""
    if str(button.get("label") or "").strip():
        return ""
    emoji = str(button.get("emoji") or "").strip()
    name = _EMOJI_NAMES.get(emoji)
    return str(name) if name else _("Midjourney button")


@register.filter
def modal_of(button: dict[str, Any]) -> str:
    custom_id = str(button.get("customId") or "")
    if _MASK.search(custom_id):
        return "mask"
    if _PROMPT.search(custom_id):
        return "prompt"
    return ""


@register.filter
def clips(job: MediaJob) -> list[dict[str, Any]]:
    """Suno clips with their stored audio and cover (by position)."""
    audio = {f.position: f for f in job.files.all() if f.kind == MediaFile.Kind.AUDIO}
    covers = {f.position: f for f in job.files.all() if f.kind == MediaFile.Kind.COVER}
    result = []
    for index, clip in enumerate(job.result.get("clips") or []):
        if isinstance(clip, dict):
            result.append({"clip": clip, "audio": audio.get(index), "cover": covers.get(index)})
    return result


@register.filter
def described(job: MediaJob) -> list[str]:
    """The four prompts of a DESCRIBE job (numbered lines of final_prompt)."""
    text = str(job.result.get("final_prompt") or job.result.get("prompt") or "")
    prompts = [re.sub(r"^\s*\S?\d+\S?\s*[.)、️⃣]*\s*", "", line).strip() for line in
               text.splitlines()]  # fmt: skip
    return [p for p in prompts if p][:4]


@register.simple_tag
def conversation_jobs(conversation, user) -> list[MediaJob]:
    """The conversation's jobs `user` may see, for the chat page, newest first."""
    from media_jobs.views import jobs_for_cards

    jobs = MediaJob.objects.visible_to(user).filter(conversation=conversation)
    return list(jobs_for_cards(user, jobs.order_by("-created_at"))[:100])


@register.inclusion_tag("media_jobs/_mode_select.html")
def media_mode_select() -> dict[str, Any]:
    """The composer's media mode: chat, or a slash command the message starts."""
    return {}


# Children made by our own buttons (parlor:seed, parlor:extend, parlor:continue), by action.
_OUR_ACTIONS = {
    "IMAGE_SEED": gettext_lazy("Seed"),
    "EXTEND": gettext_lazy("Extend"),
    "MUSIC": gettext_lazy("Continue"),
}


@register.filter
def pressed_name(job: MediaJob, parent: MediaJob | None = None) -> str:
    """What started a job, as people read it: the label of the button pressed on its parent
    (the parent given, or job.parent if already loaded), our own action's name, else the
    action. Never queries."""
    if parent is None and MediaJob.parent.is_cached(job):
        parent = job.parent
    if not job.button and job.parent_id and job.action in _OUR_ACTIONS:
        return str(_OUR_ACTIONS[job.action])
    if job.button and parent is not None:
        for button in parent.buttons:
            if isinstance(button, dict) and button.get("customId") == job.button:
                return button_text(button)
    return job.action.replace("_", " ").lower().capitalize()


@register.filter
def shown_prompt(job: MediaJob) -> str:
    """The prompt, or what a Suno song in inspiration mode was described as."""
    params = job.params if isinstance(job.params, dict) else {}
    return job.prompt or str(params.get("description") or "")
