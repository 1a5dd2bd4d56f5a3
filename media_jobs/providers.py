"""One adapter per provider (Midjourney, Suno, Luma, the images API), all of the same
shape, chosen by the job's kind (`adapter_for(job.kind)`): what the poller, the services
and the views ask of a provider instead of branching on kind and action strings.

- `submit(job, parent_id)`: the upstream call of a QUEUED job (`parent_id`: the parent
  job's task id, for a button pressed on it), a `TaskSubmitted` to poll or an `Immediate`
  result (a Midjourney seed or upload answers at once); `CannotSubmit` with the reason.
- `fetch(task_id)`, `fetch_many(ids)`: the task's state (a batch call where the gateway has
  one).
- `cancel(task_id)`: ask the gateway to stop the task; False if the provider (or this
  gateway) has no cancel route, so nothing was sent. `cancels_upstream` says whether it may
  have one at all (Suno and Luma have none: docs/gateway-api.md, "Suno", "Luma").
- `price_name(job)`: the gateway's billing name of the job's action (new-api's, as
  `GET /api/pricing` lists them), or None when the action is free upstream (nothing charged).
- `quote(job)`: what the job is reserved and charged (usage.services.quote): one call of
  its price name by default; an images-API job is priced per image, size and quality.
- `submit_seconds()`: how long a submit may take (the images API answers in 10-60 s); the
  poller leases the job at least that long and runs such submits beside its passes.
- `child_for(parent, button)`: what pressing `button` on a finished `parent` makes, as
  (action, title); None if the button is not offered there.
- `title(job)`: the card's title in plain words ("Upscale 2", "Pan left", "Continue song").
- `preview_url(status)`: a picture of the task in progress, if the gateway sends one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from gateway import images as images_api
from gateway import luma, midjourney, suno
from gateway.errors import GatewayError
from gateway.tasks import TaskStatus, TaskSubmitted
from media_jobs import features as mj_features
from media_jobs.models import MediaJob
from usage import services as usage

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

logger = logging.getLogger(__name__)

# Our own actions on a finished job (not Midjourney buttons).
SEED, EXTEND, CONTINUE = "parlor:seed", "parlor:extend", "parlor:continue"

# Reasons a submit cannot be made, stored in the installation's language (LANGUAGE_CODE).
NO_PARENT = gettext_noop("The picture this job starts from is no longer available.")
UNKNOWN_ACTION = gettext_noop("This kind of task is not supported.")
NO_LINKS = gettext_noop("The gateway sent back no links for the uploaded images.")


class CannotSubmit(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Immediate:
    """A call that answered at once: the job succeeds with this `result`, nothing to poll.
    `result_urls` are files to download now (media_jobs.storage, as a task's results) and
    `inline` files the answer carried itself, as (position, bytes): both stored at once."""

    result: dict[str, Any]
    result_urls: tuple[str, ...] = ()
    inline: tuple[tuple[int, bytes], ...] = ()


def _params(job: MediaJob) -> dict[str, Any]:
    return job.params if isinstance(job.params, dict) else {}


class Provider:
    kind: ClassVar[str] = ""
    cancels_upstream: ClassVar[bool] = False
    # The job's action -> the gateway's billing name (None: free upstream).
    PRICES: ClassVar[dict[str, str | None]] = {}
    TITLES: ClassVar[dict[str, StrOrPromise]] = {}

    async def submit(self, job: MediaJob, parent_id: str = "") -> TaskSubmitted | Immediate:
        raise CannotSubmit(UNKNOWN_ACTION)

    async def fetch(self, task_id: str) -> TaskStatus:
        raise NotImplementedError

    async def fetch_many(self, task_ids: list[str]) -> list[TaskStatus]:
        raise NotImplementedError

    async def cancel(self, task_id: str) -> bool:
        """Ask the gateway to cancel the task: False when there is no route (nothing sent);
        a GatewayError when the gateway did not answer (the poller tries again later)."""
        return False

    def action_of(self, job: MediaJob) -> str:
        return (job.action or "").upper()

    def price_name(self, job: MediaJob) -> str | None:
        action = self.action_of(job)
        if action in self.PRICES:
            return self.PRICES[action]
        return f"{self.kind}_{action.lower()}"  # unknown: charged the default price

    def quote(self, job: MediaJob) -> usage.Quote | None:
        """What the job is reserved and charged (media_jobs.billing): one call of its
        price name; None when the action is free upstream."""
        name = self.price_name(job)
        return None if name is None else usage.quote(name, calls=1)

    def submit_seconds(self) -> float:
        """How long a submit may take: a poller leases the job that long before the call."""
        return 0.0

    def child_for(self, parent: MediaJob, button: str) -> tuple[str, StrOrPromise] | None:
        return None

    def child_params(self, parent: MediaJob, button: str, data: dict[str, Any]) -> dict | None:
        """create_job's fields for the child (`data`: the button form's cleaned data); None
        if the button is not offered on `parent` or its data do not fit."""
        made = self.child_for(parent, button)
        if made is None:
            return None
        return {"action": made[0], "prompt": parent.prompt, "params": {}}

    def title(self, job: MediaJob) -> StrOrPromise:
        return self.TITLES.get(self.action_of(job)) or job.get_kind_display()

    def preview_url(self, status: TaskStatus) -> str:
        return ""


# --- Midjourney ------------------------------------------------------------------------

_PAN = {"left": _("Pan left"), "right": _("Pan right"), "up": _("Pan up"), "down": _("Pan down")}
_ZOOM = {"50": _("Zoom out 2x"), "75": _("Zoom out 1.5x")}
_UPSCALE_STYLES = {
    "subtle": _("Upscale (Subtle)"),
    "creative": _("Upscale (Creative)"),
    "4x": _("Upscale 4x"),
    "2x": _("Upscale 2x"),
}


def _number(segments: list[str], index: int) -> str:
    value = segments[index] if len(segments) > index else ""
    return value if value.isdigit() else ""


def mj_button(custom_id: str) -> tuple[str, StrOrPromise] | None:
    """What a Midjourney customId does: (the child's action, its title), after the customId
    catalogue of docs/gateway-api.md ("Midjourney"); None for one we do not know."""
    segments = custom_id.split("::")
    if len(segments) < 2 or segments[0].upper() != "MJ":
        return None
    on_job = segments[1].upper() == "JOB"
    word = (segments[2] if on_job and len(segments) > 2 else segments[1]).lower()
    rest = segments[3:] if on_job else segments[2:]
    index = _number(rest, 0)
    if word == "upsample":
        return "UPSCALE", _("Upscale %(n)s") % {"n": index} if index else _("Upscale")
    if word.startswith("upsample_"):
        style = next((t for key, t in _UPSCALE_STYLES.items() if key in word), _("Upscale"))
        return "UPSCALE", style
    if word == "variation":
        return "VARIATION", _("Variation %(n)s") % {"n": index} if index else _("Variation")
    if word == "reroll":
        return "REROLL", _("Reroll")
    if word == "low_variation":
        return "LOW_VARIATION", _("Vary (Subtle)")
    if word == "high_variation":
        return "HIGH_VARIATION", _("Vary (Strong)")
    if word.startswith("pan_") and word[4:] in _PAN:
        return "PAN", _PAN[word[4:]]
    if word == "inpaint":
        return "INPAINT", _("Vary (Region)")
    if word == "outpaint":
        return "ZOOM", _ZOOM.get(index, _("Zoom out"))
    if word == "customzoom":
        return "CUSTOM_ZOOM", _("Custom Zoom")
    if word in ("picreader", "picread"):
        title = _("Imagine from prompt %(n)s") % {"n": index} if index else _("Describe again")
        return "MODAL", title
    if word == "promptanalyzer":
        title = _("Imagine from prompt %(n)s") % {"n": index} if index else _("Imagine")
        return "MODAL", title
    return None


class MidjourneyProvider(Provider):
    kind = MediaJob.Kind.MIDJOURNEY
    cancels_upstream = True  # where the gateway has the route (media_jobs.features)
    PRICES: ClassVar[dict[str, str | None]] = {
        "IMAGINE": "mj_imagine",
        "UPSCALE": "mj_upscale",
        "VARIATION": "mj_variation",
        "REROLL": "mj_reroll",
        "HIGH_VARIATION": "mj_high_variation",
        "LOW_VARIATION": "mj_low_variation",
        "PAN": "mj_pan",
        "ZOOM": "mj_zoom",
        "CUSTOM_ZOOM": "mj_custom_zoom",
        "INPAINT": "mj_inpaint",
        "VARY_REGION": "mj_inpaint",  # what older rows call it
        "MODAL": "mj_modal",
        "BLEND": "mj_blend",
        "DESCRIBE": "mj_describe",
        "SHORTEN": "mj_shorten",
        "SWAP_FACE": "swap_face",
        "UPLOAD": "mj_uploads",
        "IMAGE_SEED": None,
    }
    TITLES: ClassVar[dict[str, StrOrPromise]] = {
        "IMAGINE": _("Imagine"),
        "BLEND": _("Blend"),
        "DESCRIBE": _("Describe"),
        "SHORTEN": _("Shorten"),
        "SWAP_FACE": _("Swap face"),
        "UPLOAD": _("Upload to Discord"),
        "IMAGE_SEED": _("Seed"),
        "UPSCALE": _("Upscale"),
        "VARIATION": _("Variation"),
        "REROLL": _("Reroll"),
        "LOW_VARIATION": _("Vary (Subtle)"),
        "HIGH_VARIATION": _("Vary (Strong)"),
        "PAN": _("Pan"),
        "ZOOM": _("Zoom out"),
        "CUSTOM_ZOOM": _("Custom Zoom"),
        "INPAINT": _("Vary (Region)"),
        "VARY_REGION": _("Vary (Region)"),
    }

    def action_of(self, job: MediaJob) -> str:
        """The button decides (older rows recorded some presses as "ACTION")."""
        pressed = mj_button(job.button) if job.button else None
        return pressed[0] if pressed else super().action_of(job)

    def title(self, job: MediaJob) -> StrOrPromise:
        pressed = mj_button(job.button) if job.button else None
        return pressed[1] if pressed else super().title(job)

    def child_for(self, parent: MediaJob, button: str) -> tuple[str, StrOrPromise] | None:
        if button == SEED:
            return "IMAGE_SEED", _("Seed")
        if button not in _custom_ids(parent):
            return None
        return mj_button(button) or ("ACTION", _("Button"))

    def child_params(self, parent: MediaJob, button: str, data: dict[str, Any]) -> dict | None:
        made = self.child_for(parent, button)
        if made is None:
            return None
        speed = {k: v for k, v in _params(parent).items() if k == "speed"}
        if button == SEED:
            return {"action": made[0], "prompt": parent.prompt, "params": {}}
        params = dict(speed)
        if data.get("prompt"):
            params["modal_prompt"] = data["prompt"]
        if data.get("mask"):
            params["mask"] = data["mask"]
        return {"action": made[0], "prompt": parent.prompt, "params": params, "button": button}

    def preview_url(self, status: TaskStatus) -> str:
        return str(status.extras.get("preview_url") or "")

    async def submit(self, job: MediaJob, parent_id: str = "") -> TaskSubmitted | Immediate:
        params = _params(job)
        action = job.action.upper()
        speed = params.get("speed") or None
        if job.button:
            if not parent_id:
                raise CannotSubmit(NO_PARENT)
            submitted = await midjourney.action(parent_id, job.button, speed=speed)
        elif action == "IMAGE_SEED":
            if not parent_id:
                raise CannotSubmit(NO_PARENT)
            return Immediate({"seed": await midjourney.image_seed(parent_id)})
        elif action == "UPLOAD":
            urls = await midjourney.upload(list(params.get("images") or []))
            # Shown as links on the card, never downloaded: web links only.
            urls = [url for url in urls if url.lower().startswith(("https://", "http://"))]
            if not urls:
                raise CannotSubmit(NO_LINKS)
            return Immediate({"urls": urls})
        elif action == "IMAGINE":
            images = list(params.get("images") or [])
            niji = bool(params.get("niji"))
            submitted = await midjourney.imagine(job.prompt, images=images, niji=niji, speed=speed)
        elif action == "BLEND":
            dimensions = str(params.get("dimensions") or "SQUARE")
            submitted = await midjourney.blend(list(params.get("images") or []),
                                               dimensions=dimensions, speed=speed)  # fmt: skip
        elif action == "DESCRIBE":
            submitted = await midjourney.describe(str(params.get("image", "")), speed=speed)
        elif action == "SHORTEN":
            submitted = await midjourney.shorten(job.prompt, speed=speed)
        elif action == "SWAP_FACE":
            source, target = str(params.get("source", "")), str(params.get("target", ""))
            submitted = await midjourney.swap_face(source, target, speed=speed)
        else:
            raise CannotSubmit(UNKNOWN_ACTION)
        if submitted.needs_modal:  # Vary Region, Custom Zoom, Remix: confirm the window
            prompt = str(params.get("modal_prompt") or job.prompt)
            mask = str(params.get("mask") or "")
            submitted = await midjourney.modal(
                submitted.task_id, prompt=prompt, mask=mask, speed=speed
            )
        return submitted

    async def fetch(self, task_id: str) -> TaskStatus:
        return await midjourney.fetch(task_id)

    async def fetch_many(self, task_ids: list[str]) -> list[TaskStatus]:
        return await midjourney.fetch_many(task_ids)

    async def cancel(self, task_id: str) -> bool:
        """Only where the gateway has the cancel route (trueai-style proxies)."""
        if not (await gateway_features()).get("cancel"):
            return False
        await midjourney.cancel(task_id)
        return True


def _custom_ids(job: MediaJob) -> set[str]:
    return {str(b["customId"]) for b in job.buttons if isinstance(b, dict) and b.get("customId")}


async def gateway_features() -> dict[str, bool]:
    """The gateway's optional Midjourney routes as the gateway check last found them; the
    gateway is checked here only when no check is stored yet. Pages only read the answer."""
    from channels.db import database_sync_to_async

    return await database_sync_to_async(mj_features.cached)() or await mj_features.refresh()


async def image_features() -> dict[str, bool]:
    """Whether the gateway serves image edits, probed when the cache is empty (like
    `gateway_features`): pages only read media_jobs.features.images_cached."""
    from channels.db import database_sync_to_async

    cached = await database_sync_to_async(mj_features.images_cached)()
    return cached or await mj_features.refresh_images()


# --- Suno ------------------------------------------------------------------------------

SUNO_OPTIONS = ("description", "title", "tags", "model", "instrumental", "continue_clip_id",
                "continue_at")  # fmt: skip


class SunoProvider(Provider):
    kind = MediaJob.Kind.SUNO
    PRICES: ClassVar[dict[str, str | None]] = {"MUSIC": "suno_music", "LYRICS": "suno_lyrics"}
    TITLES: ClassVar[dict[str, StrOrPromise]] = {"MUSIC": _("Song"), "LYRICS": _("Lyrics")}

    def title(self, job: MediaJob) -> StrOrPromise:
        if self.action_of(job) == "MUSIC" and _params(job).get("continue_clip_id"):
            return _("Continue song")
        return super().title(job)

    def child_for(self, parent: MediaJob, button: str) -> tuple[str, StrOrPromise] | None:
        if button == CONTINUE and self.action_of(parent) == "MUSIC":
            return "MUSIC", _("Continue song")
        return None

    def child_params(self, parent: MediaJob, button: str, data: dict[str, Any]) -> dict | None:
        made = self.child_for(parent, button)
        clip_id = data.get("clip_id") or ""
        clips = parent.result.get("clips", []) if isinstance(parent.result, dict) else []
        if made is None or clip_id not in {c.get("id") for c in clips if isinstance(c, dict)}:
            return None
        params = {"continue_clip_id": clip_id, "continue_at": data.get("continue_at") or 0}
        return {"action": made[0], "prompt": parent.prompt,
                "params": {**_params(parent), **params}}  # fmt: skip

    async def submit(self, job: MediaJob, parent_id: str = "") -> TaskSubmitted | Immediate:
        if job.action.upper() == "LYRICS":
            return await suno.submit_lyrics(job.prompt)
        params = _params(job)
        options = {k: params[k] for k in SUNO_OPTIONS if k in params}
        if parent_id and options.get("continue_clip_id"):
            options["continue_task_id"] = parent_id
        return await suno.submit(prompt=job.prompt, **options)

    async def fetch(self, task_id: str) -> TaskStatus:
        return await suno.fetch(task_id)

    async def fetch_many(self, task_ids: list[str]) -> list[TaskStatus]:
        return await suno.fetch_many(task_ids)


# --- Luma ------------------------------------------------------------------------------

LUMA_OPTIONS = ("aspect_ratio", "start_image", "end_image", "loop", "expand_prompt")


class LumaProvider(Provider):
    kind = MediaJob.Kind.LUMA
    PRICES: ClassVar[dict[str, str | None]] = {
        "GENERATE": "luma_generate",
        "EXTEND": "luma_extend",
    }
    TITLES: ClassVar[dict[str, StrOrPromise]] = {
        "GENERATE": _("Video"),
        "EXTEND": _("Extend video"),
    }

    def child_for(self, parent: MediaJob, button: str) -> tuple[str, StrOrPromise] | None:
        if button == EXTEND:
            return "EXTEND", _("Extend video")
        return None

    def child_params(self, parent: MediaJob, button: str, data: dict[str, Any]) -> dict | None:
        made = self.child_for(parent, button)
        if made is None:
            return None
        options = {k: v for k, v in _params(parent).items() if k in ("aspect_ratio", "loop")}
        prompt = data.get("prompt") or parent.prompt
        return {"action": made[0], "prompt": prompt, "params": options}

    async def submit(self, job: MediaJob, parent_id: str = "") -> TaskSubmitted | Immediate:
        params = _params(job)
        options = {k: params[k] for k in LUMA_OPTIONS if k in params}
        if job.action.upper() == "EXTEND":
            if not parent_id:
                raise CannotSubmit(NO_PARENT)
            return await luma.extend(parent_id, job.prompt, **options)
        return await luma.submit(job.prompt, **options)

    async def fetch(self, task_id: str) -> TaskStatus:
        return await luma.fetch(task_id)

    async def fetch_many(self, task_ids: list[str]) -> list[TaskStatus]:
        """The batch route is a reseller addition: one by one where it is missing."""
        try:
            return await luma.fetch_many(task_ids)
        except GatewayError:
            pass
        answers = await asyncio.gather(*(luma.fetch(i) for i in task_ids), return_exceptions=True)
        return [a for a in answers if isinstance(a, TaskStatus)]


# --- the images API (DALL-E, gpt-image, Stable Diffusion, Flux) -----------------------

NO_IMAGE = gettext_noop("The picture to edit is missing or is not an image.")


def _image_bytes(value: Any) -> bytes:
    """The bytes of a data: URL the forms stored (media_jobs.forms.image_data_url)."""
    head, _comma, payload = str(value or "").partition(",")
    if not head.startswith("data:image/") or not payload:
        return b""
    try:
        return base64.b64decode(payload)
    except (binascii.Error, ValueError):
        return b""


class ImagesProvider(Provider):
    """One synchronous call (10-60 s) answered at once: no task to poll. Priced per image
    under the model's own name (docs/money.md): the model's price per image x the size ratio
    x the HD ratio x the images sent (one for dall-e-3, whatever was asked)."""

    kind = MediaJob.Kind.IMAGE
    TITLES: ClassVar[dict[str, StrOrPromise]] = {
        "GENERATE": _("Image"),
        "EDIT": _("Edited image"),
    }

    def price_name(self, job: MediaJob) -> str | None:
        return str(_params(job).get("model") or "") or None

    def quote(self, job: MediaJob) -> usage.Quote | None:
        from media_jobs import image_models

        params = _params(job)
        model = self.price_name(job)
        if model is None:
            return None
        return image_models.quote(model, n=int(params.get("n") or 1),
                                  size=str(params.get("size") or ""),
                                  quality=str(params.get("quality") or ""))  # fmt: skip

    def submit_seconds(self) -> float:
        from django.conf import settings

        read = max(images_api.READ_SECONDS, float(settings.GATEWAY_READ_TIMEOUT))
        return read + float(settings.GATEWAY_CONNECT_TIMEOUT)

    async def submit(self, job: MediaJob, parent_id: str = "") -> TaskSubmitted | Immediate:
        params = _params(job)
        model = str(params.get("model") or "")
        options: dict[str, Any] = {"model": model, "prompt": job.prompt,
                                   "n": int(params.get("n") or 1),
                                   "size": str(params.get("size") or "")}  # fmt: skip
        if self.action_of(job) == "EDIT":
            image = _image_bytes(params.get("image"))
            if not image:
                raise CannotSubmit(NO_IMAGE)
            answer = await images_api.edit(image=image, mask=_image_bytes(params.get("mask")),
                                           **options)  # fmt: skip
        elif self.action_of(job) == "GENERATE":
            answer = await images_api.generate(quality=str(params.get("quality") or ""),
                                               style=str(params.get("style") or ""),
                                               **options)  # fmt: skip
        else:
            raise CannotSubmit(UNKNOWN_ACTION)
        result: dict[str, Any] = {"model": model, "size": options["size"]}
        revised = [item.revised_prompt for item in answer.items]
        if any(revised):
            result["revised_prompts"] = revised
        return Immediate(
            result,
            result_urls=tuple(item.url for item in answer.items),
            inline=tuple((i, item.data) for i, item in enumerate(answer.items) if item.data),
        )


ADAPTERS: dict[str, Provider] = {
    MediaJob.Kind.MIDJOURNEY: MidjourneyProvider(),
    MediaJob.Kind.SUNO: SunoProvider(),
    MediaJob.Kind.LUMA: LumaProvider(),
    MediaJob.Kind.IMAGE: ImagesProvider(),
}


def adapter_for(kind: str) -> Provider:
    """The kind's adapter; a kind without one gets the base, which submits nothing."""
    return ADAPTERS.get(kind) or Provider()
