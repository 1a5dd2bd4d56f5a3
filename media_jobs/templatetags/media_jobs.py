"""Template helpers of job cards; none of them queries the database (cards are rendered from
async code too: a slash command's answer, a thread frame)."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

from django import template
from django.conf import settings
from django.utils import timezone
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
    """What the button shows: the gateway's label (after its emoji), else the emoji with its
    name in words ("🔄 Reroll"): a bare emoji says nothing where the font lacks it (a box)."""
    label = str(button.get("label") or "").strip()
    emoji = str(button.get("emoji") or "").strip()
    if not label and emoji in _EMOJI_NAMES:
        label = str(_EMOJI_NAMES[emoji])
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


# Children made by our own buttons (parlor:seed, parlor:extend, parlor:continue), by action.
_OUR_ACTIONS = {
    "IMAGE_SEED": gettext_lazy("Seed"),
    "EXTEND": gettext_lazy("Extend"),
    "MUSIC": gettext_lazy("Continue"),
}


@register.filter
def shown_prompt(job: MediaJob) -> str:
    """The prompt, or what a Suno song in inspiration mode was described as."""
    params = job.params if isinstance(job.params, dict) else {}
    return job.prompt or str(params.get("description") or "")


# What a job is called on its card when the model gives no title (MediaJob.title): by the
# button pressed on its parent, else by its action.
_ACTION_TITLES = {
    "IMAGINE": gettext_lazy("Imagine"),
    "BLEND": gettext_lazy("Blend"),
    "DESCRIBE": gettext_lazy("Describe"),
    "SHORTEN": gettext_lazy("Shorten"),
    "SWAP_FACE": gettext_lazy("Swap face"),
    "UPLOAD": gettext_lazy("Upload"),
    "IMAGE_SEED": gettext_lazy("Seed"),
    "UPSCALE": gettext_lazy("Upscale"),
    "VARIATION": gettext_lazy("Variation"),
    "REROLL": gettext_lazy("Reroll"),
    "PAN": gettext_lazy("Pan"),
    "VARY_REGION": gettext_lazy("Vary (Region)"),
    "ZOOM": gettext_lazy("Zoom"),
    "LYRICS": gettext_lazy("Lyrics"),
    "EXTEND": gettext_lazy("Extend"),
}
_KIND_TITLES = {"suno": gettext_lazy("Song"), "luma": gettext_lazy("Video")}
_NUMBERED = {"U": gettext_lazy("Upscale %(n)s"), "V": gettext_lazy("Variation %(n)s")}


@register.filter
def card_title(job: MediaJob, parent: MediaJob | None = None) -> str:
    """The job's name in words ("Upscale 2", "Pan left", "Song"): MediaJob.title when the
    model has it, else derived here from the button pressed and the action. Never queries."""
    title = getattr(job, "title", None)  # a lazy translation: str() is what it says
    if title:
        return str(title)
    if parent is None and MediaJob.parent.is_cached(job):
        parent = job.parent
    if job.button and parent is not None:
        for button in parent.buttons:
            if isinstance(button, dict) and button.get("customId") == job.button:
                return _button_title(button)
    if job.parent_id and job.action in _OUR_ACTIONS and not job.button:
        return str(_OUR_ACTIONS[job.action])
    if job.kind in _KIND_TITLES and job.action in ("MUSIC", "GENERATE"):
        return str(_KIND_TITLES[job.kind])
    if job.action in _ACTION_TITLES:
        return str(_ACTION_TITLES[job.action])
    return job.action.replace("_", " ").lower().capitalize()


def _button_title(button: dict[str, Any]) -> str:
    label = str(button.get("label") or "").strip()
    numbered = re.fullmatch(r"([UV])(\d)", label)
    if numbered:
        return str(_NUMBERED[numbered.group(1)]) % {"n": numbered.group(2)}
    if label:
        return label
    name = _EMOJI_NAMES.get(str(button.get("emoji") or "").strip())
    return str(name) if name else button_text(button)


@register.filter
def stuck_minutes(job: MediaJob) -> int:
    """For "No progress for N minutes": since the job last moved (MediaJob.last_progress_at,
    when the model has it), else the threshold of settings.MEDIA_STUCK_MINUTES."""
    last = getattr(job, "last_progress_at", None)
    if last is not None:
        return max(1, int((timezone.now() - last).total_seconds() // 60))
    return int(getattr(settings, "MEDIA_STUCK_MINUTES", 5))


@register.filter
def download_name(media: MediaFile) -> str:
    """The name a download is saved under (MediaFile.download_name: from the prompt and the
    kind), else the stored file's own name; media_jobs.views.file sends the same."""
    name = getattr(media, "download_name", "")
    return name or os.path.basename(media.file.name or "")
