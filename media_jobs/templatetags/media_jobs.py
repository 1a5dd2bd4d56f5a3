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


@register.filter
def duration(seconds: Any) -> str:
    """Seconds as m:ss (h:mm:ss past an hour); "" when the gateway gave no number."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# The picture a gallery tile shows, by kind: the first of these file kinds the job has.
_TILE_PICTURES = {
    "midjourney": (MediaFile.Kind.IMAGE,),
    "image": (MediaFile.Kind.IMAGE,),
    "suno": (MediaFile.Kind.COVER,),
    "luma": (MediaFile.Kind.IMAGE, MediaFile.Kind.VIDEO),
}


@register.filter
def tile_picture(job: MediaJob) -> MediaFile | None:
    """The file a tile shows (through the `thumb` variant): the drawing's preview while a job
    runs, else its first picture, a song's cover, a video's poster (or the video when it is
    a GIF). A job that has just ended keeps its preview until its results are copied (the
    tile must not fall back to the placeholder between the two pushes). None: the tile shows
    the kind's placeholder."""
    files = sorted(job.files.all(), key=lambda f: f.position)
    if job.is_active:
        kinds: tuple[str, ...] = (MediaFile.Kind.PREVIEW,)
    else:
        kinds = _TILE_PICTURES.get(job.kind, ())
    if job.status == MediaJob.Status.SUCCEEDED:
        kinds += (MediaFile.Kind.PREVIEW,)  # until the results are copied
    for kind in kinds:
        for media in files:
            if media.kind == kind and (kind != MediaFile.Kind.VIDEO or is_gif(media)):
                return media
    return None


@register.filter
def clip_durations(job: MediaJob) -> str:
    """A song's clips' durations as text ("2:34 · 2:51"), what a tile shows before playing."""
    shown = [duration(c.get("duration")) for c in job.result.get("clips") or []
             if isinstance(c, dict)]  # fmt: skip
    return " · ".join(text for text in shown if text)


@register.filter
def song_title(job: MediaJob) -> str:
    """The first clip's title (what Suno named the song), else ""."""
    for clip in job.result.get("clips") or []:
        if isinstance(clip, dict) and clip.get("title"):
            return str(clip["title"])
    return ""


# Parameters a lightbox lists, as the forms and the gateway name them (params, then result).
_PARAMETERS = (
    ("model", gettext_lazy("Model")),
    ("size", gettext_lazy("Size")),
    ("quality", gettext_lazy("Quality")),
    ("n", gettext_lazy("Images")),
    ("aspect", gettext_lazy("Aspect ratio")),
    ("aspect_ratio", gettext_lazy("Aspect ratio")),
    ("dimensions", gettext_lazy("Dimensions")),
    ("version", gettext_lazy("Version")),
    ("speed", gettext_lazy("Speed")),
    ("tags", gettext_lazy("Style tags")),
    ("instrumental", gettext_lazy("Instrumental")),
    ("loop", gettext_lazy("Loop")),
    ("seed", gettext_lazy("Seed")),
)


@register.filter
def job_parameters(job: MediaJob) -> list[tuple[str, str]]:
    """(label, value) of the job's known parameters, the result's (what was made) first."""
    params = job.params if isinstance(job.params, dict) else {}
    result = job.result if isinstance(job.result, dict) else {}
    shown = []
    for key, label in _PARAMETERS:
        value = result.get(key, params.get(key))
        if value in (None, "", [], {}) or isinstance(value, (dict, list)):
            continue
        if isinstance(value, bool):
            value = _("Yes") if value else _("No")
        shown.append((str(label), str(value)))
    return shown
