"""Forms of the studio: one per tool (imagine, blend, describe, ... Suno, Luma) and the
button form on a card. Every form carries an idempotency key (a uuid4 rendered into it), so
a double click or a resent form starts one job. Uploaded images are checked by their bytes
and size and handed on as data URLs, which create_job stores as files (media_jobs.uploads):
the job's `params` keep only references."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from gateway.download import IMAGE_TYPES, sniff
from media_jobs import image_models
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


class ImageForm(JobForm):
    """The images API (DALL-E, gpt-image, Stable Diffusion, Flux): the choices follow the
    chosen model (media_jobs.image_models), and the form knows the price before sending
    (`price`), which is what is reserved and charged. Changing the model, size, quality or
    count asks the server for the options and the price again (htmx, `options_url`)."""

    kind, action = MediaJob.Kind.IMAGE, "GENERATE"
    edits = False  # the Edit image tool: a reference image and a mask
    prompt = _prompt()
    model = forms.ChoiceField(label=_("Model"))
    size = forms.ChoiceField(label=_("Size"))
    quality = forms.ChoiceField(label=_("Quality"), required=False)
    style = forms.ChoiceField(label=_("Style"), required=False)
    n = forms.IntegerField(label=_("Number of images"), min_value=1, max_value=10,
                           required=False, initial=1, widget=forms.Select)  # fmt: skip
    OPTIONS: tuple[str, ...] = ("model", "size", "quality", "style", "n")

    def __init__(self, *args: Any, options_url: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        models = image_models.offered_models(edits=self.edits)
        self._choice("model").choices = [(m, m) for m in models]
        self.initial.setdefault("model", models[0])
        model = self.chosen("model")
        if model not in models:
            model = models[0]
        self._choice("size").choices = [(v, v) for v in image_models.sizes_for(model)]
        self.initial["size"] = self._kept("size", image_models.default_size(model))
        for name, choices in (("quality", image_models.qualities_for(model)),
                              ("style", image_models.styles_for(model))):  # fmt: skip
            if choices and not self.edits:
                self._choice(name).choices = list(choices)
                self.initial[name] = self._kept(name, choices[0][0])
            else:
                del self.fields[name]
        counts = [str(i) for i in range(1, image_models.max_n(model) + 1)]
        if len(counts) == 1:
            self.fields["n"].widget = forms.HiddenInput()
        else:
            self.fields["n"].widget.choices = [(i, i) for i in counts]
        value = self.chosen("n") if self.is_bound or "n" in self.initial else "1"
        self.initial["n"] = value if value in counts else counts[-1] if value.isdigit() else "1"
        if options_url:
            for name in self.OPTIONS:
                if name in self.fields:
                    self.fields[name].widget.attrs.update({
                        "hx-get": options_url,
                        "hx-target": "#image-options",
                        "hx-select": "#image-options",
                        "hx-swap": "outerHTML",
                        "hx-include": "closest form",
                    })  # fmt: skip
        self.chosen_model = model

    def _choice(self, name: str) -> forms.ChoiceField:
        return cast(forms.ChoiceField, self.fields[name])

    def chosen(self, name: str) -> str:
        """The value the form shows for `name` (what was sent, else the initial one)."""
        if self.is_bound and self.data.get(name) not in (None, ""):
            return str(self.data.get(name))
        return str(self.initial.get(name) or "")

    def _kept(self, name: str, default: str) -> str:
        """The value sent (or shown) for `name` when the chosen model offers it, else
        `default`: a new model resets what it lacks."""
        choices = {str(value) for value, _label in cast(list, self._choice(name).choices)}
        value = self.chosen(name) if self.is_bound or name in self.initial else default
        return value if value in choices else default

    def price(self) -> Any:
        """The quote of what the options show now (usage.services.Quote)."""
        size = str(self.initial["size"])
        quality = str(self.initial.get("quality") or "") if "quality" in self.fields else ""
        return image_models.quote(self.chosen_model, n=int(self.initial["n"]), size=size,
                                  quality=quality)  # fmt: skip

    def clean_n(self) -> int:
        """At most what the model makes at once (dall-e-3: one, whatever was asked)."""
        return min(int(self.cleaned_data.get("n") or 1), image_models.max_n(self.chosen_model))


class EditImageForm(ImageForm):
    kind, action = MediaJob.Kind.IMAGE, "EDIT"
    edits = True
    image = ImageField(label=_("Picture to edit"))
    mask = ImageField(
        label=_("Mask (optional)"),
        required=False,
        help_text=_("A PNG as big as the picture: its transparent part is what gets redrawn."),
    )
    OPTIONS = ("model", "size", "n")

    def clean_mask(self) -> str:
        mask = self.cleaned_data.get("mask") or ""
        if mask and not mask.startswith("data:image/png;base64,"):
            raise ValidationError(_("The mask must be a PNG image."), code="mask")
        return mask


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
    "image": ImageForm,
    "edit-image": EditImageForm,
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
    "image": _("Image"),
    "edit-image": _("Edit image"),
}


def tool_labels() -> dict[str, Any]:
    """The studio's tools this gateway serves: Edit image only where it has
    /v1/images/edits (media_jobs.features, probed by the poller; hidden until then)."""
    from media_jobs import features

    hidden = set() if features.images_cached().get("edits") else {"edit-image"}
    return {name: label for name, label in TOOL_LABELS.items() if name not in hidden}


class ButtonForm(forms.Form):
    """A button pressed on a card: a Midjourney customId (with a modal's prompt or mask),
    or one of our own actions on the job (seed, extend, continue a clip)."""

    custom_id = forms.CharField(max_length=300)
    idempotency_key = forms.UUIDField(widget=forms.HiddenInput)
    prompt = forms.CharField(required=False, max_length=PROMPT_MAX_CHARS)
    # A data URL: 4 MB of base64 is a 3 MB PNG (DATA_UPLOAD_MAX_MEMORY_SIZE leaves room).
    mask = forms.CharField(
        required=False,
        max_length=MASK_MAX_CHARS,
        error_messages={"max_length": _("The mask must be 3 MB or smaller.")},
    )
    clip_id = forms.CharField(required=False, max_length=200)
    continue_at = forms.FloatField(required=False, min_value=0, max_value=3600)

    def clean_mask(self) -> str:
        mask = self.cleaned_data["mask"]
        if mask and not mask.startswith("data:image/png;base64,"):
            raise ValidationError(_("The mask must be a PNG image."), code="mask")
        return mask
