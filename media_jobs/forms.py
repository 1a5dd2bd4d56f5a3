"""Forms of the studio: one per tool (imagine, blend, describe, ... Suno, Luma) and the
button form on a card. Every form carries an idempotency key (a uuid4 rendered into it), so
a double click or a resent form starts one job. Uploaded images are checked by their bytes
and size and travel to the engine as data URLs in `params`."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from gateway.download import IMAGE_TYPES, sniff
from media_jobs.models import MediaJob

IMAGE_MAX_BYTES = 5 * 1024 * 1024
MASK_MAX_CHARS = 4 * 1024 * 1024
PROMPT_MAX_CHARS = 4000


def sniff_image(head: bytes) -> str | None:
    """The image type the bytes show (gateway.download's one table of magic numbers), or None."""
    content_type = sniff(head)
    return content_type if content_type in IMAGE_TYPES else None


def image_data_url(upload) -> str:
    """The upload as a data URL, or ValidationError if it is not a small PNG/JPEG/GIF/WebP."""
    if upload.size > IMAGE_MAX_BYTES:
        raise ValidationError(_("Each image must be 5 MB or smaller."), code="too_big")
    data = upload.read(IMAGE_MAX_BYTES + 1)
    if len(data) > IMAGE_MAX_BYTES:
        raise ValidationError(_("Each image must be 5 MB or smaller."), code="too_big")
    content_type = sniff_image(data[:16])
    if content_type is None:
        raise ValidationError(_("Upload a PNG, JPEG, GIF or WebP image."), code="not_image")
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class ImagesField(forms.FileField):
    """Several images, each checked; cleans to a list of data URLs."""

    widget = MultipleFileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"})

    def __init__(self, *, min_count: int = 0, max_count: int = 5, **kwargs: Any) -> None:
        self.min_count, self.max_count = min_count, max_count
        kwargs.setdefault("required", min_count > 0)
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[str]:
        files = [f for f in (data if isinstance(data, list | tuple) else [data]) if f]
        if len(files) < self.min_count or len(files) > self.max_count:
            raise ValidationError(
                _("Choose between %(min)d and %(max)d images.")
                % {"min": max(self.min_count, 1), "max": self.max_count},
                code="count",
            )
        return [image_data_url(f) for f in files]


class ImageField(forms.FileField):
    widget = forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"})

    def clean(self, data: Any, initial: Any = None) -> str:
        upload = super().clean(data, initial)
        return image_data_url(upload) if upload else ""


class JobForm(forms.Form):
    """Base of every form that starts a job."""

    kind: str = ""
    action: str = ""
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("idempotency_key", uuid.uuid4())

    def job_fields(self) -> dict[str, Any]:
        """create_job's keyword arguments from the cleaned data."""
        data = dict(self.cleaned_data)
        key = str(data.pop("idempotency_key"))
        prompt = data.pop("prompt", "")
        params = {k: v for k, v in data.items() if v not in ("", None, [], False)}
        return {
            "kind": self.kind,
            "action": self.action,
            "prompt": prompt,
            "params": params,
            "idempotency_key": key,
        }


PROMPT_LABEL = _("Prompt")


def _prompt(required: bool = True, label=PROMPT_LABEL) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=PROMPT_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


ASPECTS = [("1:1", "1:1"), ("16:9", "16:9"), ("9:16", "9:16"), ("4:3", "4:3"), ("3:4", "3:4"),
           ("3:2", "3:2"), ("2:3", "2:3")]  # fmt: skip


def _with_flag(prompt: str, flag: str, value: str) -> str:
    """`prompt --flag value`, unless the prompt sets that flag itself."""
    if not value or re.search(rf"(^|\s){re.escape(flag)}(\s|$)", prompt):
        return prompt
    return f"{prompt} {flag} {value}"


class ImagineForm(JobForm):
    kind, action = MediaJob.Kind.MIDJOURNEY, "IMAGINE"
    prompt = _prompt()
    aspect = forms.ChoiceField(label=_("Aspect ratio"), choices=ASPECTS, initial="1:1")
    version = forms.ChoiceField(
        label=_("Model version"),
        required=False,
        choices=[("", _("Default")), ("7", "v7"), ("6.1", "v6.1"), ("niji 6", "niji 6")],
    )
    speed = forms.ChoiceField(
        label=_("Speed"),
        choices=[("fast", _("Fast")), ("relax", _("Relax")), ("turbo", _("Turbo"))],
        initial="fast",
    )
    images = ImagesField(label=_("Reference images (optional)"), max_count=5)

    def job_fields(self) -> dict[str, Any]:
        """Aspect and version travel in the prompt as Midjourney flags; niji picks the bot."""
        fields = super().job_fields()
        params = fields["params"]
        aspect, version = params.pop("aspect", "1:1"), params.pop("version", "")
        prompt = fields["prompt"]
        if aspect != "1:1":
            prompt = _with_flag(prompt, "--ar", aspect)
        if version.startswith("niji"):
            params["niji"] = True
        else:
            prompt = _with_flag(prompt, "--v", version)
        fields["prompt"] = prompt
        return fields


class BlendForm(JobForm):
    kind, action = MediaJob.Kind.MIDJOURNEY, "BLEND"
    images = ImagesField(label=_("Images to blend (2 to 5)"), min_count=2, max_count=5)
    dimensions = forms.ChoiceField(
        label=_("Dimensions"),
        choices=[
            ("SQUARE", _("Square")),
            ("PORTRAIT", _("Portrait")),
            ("LANDSCAPE", _("Landscape")),
        ],
    )


class DescribeForm(JobForm):
    kind, action = MediaJob.Kind.MIDJOURNEY, "DESCRIBE"
    image = ImageField(label=_("Image to describe"))


class ShortenForm(JobForm):
    kind, action = MediaJob.Kind.MIDJOURNEY, "SHORTEN"
    prompt = _prompt()


class SwapFaceForm(JobForm):
    kind, action = MediaJob.Kind.MIDJOURNEY, "SWAP_FACE"
    source = ImageField(label=_("Face to use"))
    target = ImageField(label=_("Picture to put it in"))


class UploadForm(JobForm):
    kind, action = MediaJob.Kind.MIDJOURNEY, "UPLOAD"
    images = ImagesField(label=_("Images to upload to Discord"), min_count=1, max_count=5)


class SunoForm(JobForm):
    kind, action = MediaJob.Kind.SUNO, "MUSIC"
    mode = forms.ChoiceField(
        label=_("Mode"),
        choices=[
            ("inspiration", _("Inspiration: describe the song")),
            ("custom", _("Custom: your lyrics, style and title")),
        ],
        initial="inspiration",
        widget=forms.RadioSelect,
    )
    prompt = _prompt(required=False, label=_("Description or lyrics"))
    tags = forms.CharField(label=_("Style tags"), required=False, max_length=200)
    title = forms.CharField(label=_("Title"), required=False, max_length=120)
    instrumental = forms.BooleanField(label=_("Instrumental"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("prompt") and not data.get("instrumental"):
            raise ValidationError(_("Describe the song or write its lyrics."), code="empty")
        return data

    def job_fields(self) -> dict[str, Any]:
        """Inspiration mode sends the text as `description`; custom mode as the lyrics."""
        fields = super().job_fields()
        if fields["params"].pop("mode", "inspiration") == "inspiration":
            fields["params"]["description"] = fields["prompt"]
            fields["params"].pop("title", None)
            fields["params"].pop("tags", None)
            fields["prompt"] = ""
        return fields


class LyricsForm(JobForm):
    kind, action = MediaJob.Kind.SUNO, "LYRICS"
    prompt = _prompt(label=_("What the lyrics are about"))


class LumaForm(JobForm):
    kind, action = MediaJob.Kind.LUMA, "GENERATE"
    prompt = _prompt()
    start_image = ImageField(label=_("Start frame (optional)"), required=False)
    end_image = ImageField(label=_("End frame (optional)"), required=False)
    aspect_ratio = forms.ChoiceField(label=_("Aspect ratio"), choices=ASPECTS, initial="16:9")
    loop = forms.BooleanField(label=_("Loop"), required=False)


# Tool name in the URL -> form. The order is the studio's menu.
TOOLS: dict[str, type[JobForm]] = {
    "imagine": ImagineForm,
    "blend": BlendForm,
    "describe": DescribeForm,
    "shorten": ShortenForm,
    "swap-face": SwapFaceForm,
    "upload": UploadForm,
    "suno": SunoForm,
    "lyrics": LyricsForm,
    "luma": LumaForm,
}
TOOL_LABELS = {
    "imagine": _("Imagine"),
    "blend": _("Blend"),
    "describe": _("Describe"),
    "shorten": _("Shorten"),
    "swap-face": _("Swap face"),
    "upload": _("Upload to Discord"),
    "suno": _("Song"),
    "lyrics": _("Lyrics"),
    "luma": _("Video"),
}


class ButtonForm(forms.Form):
    """A button pressed on a card: a Midjourney customId (with a modal's prompt or mask),
    or one of our own actions on the job (seed, extend, continue a clip)."""

    custom_id = forms.CharField(max_length=300)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
    prompt = forms.CharField(required=False, max_length=PROMPT_MAX_CHARS)
    mask = forms.CharField(required=False, max_length=MASK_MAX_CHARS)
    clip_id = forms.CharField(required=False, max_length=200)
    continue_at = forms.FloatField(required=False, min_value=0, max_value=3600)

    def clean_mask(self) -> str:
        mask = self.cleaned_data["mask"]
        if mask and not mask.startswith("data:image/png;base64,"):
            raise ValidationError(_("The mask must be a PNG image."), code="mask")
        return mask
