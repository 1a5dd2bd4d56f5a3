from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import cast
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _

from chat.models import GPT, Conversation

SYSTEM_PROMPT_MAX_CHARS = 8000


class RenameForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["title"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["title"].required = True


class ConversationSettingsForm(forms.ModelForm):
    model = forms.ChoiceField(label=_("Model"))
    system_prompt = forms.CharField(
        label=_("System prompt"),
        max_length=SYSTEM_PROMPT_MAX_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    temperature = forms.FloatField(
        label=_("Temperature"),
        min_value=0,
        max_value=2,
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
        help_text=_("0 to 2; leave blank for the model's default."),
    )

    class Meta:
        model = Conversation
        fields = ["model", "system_prompt", "temperature"]

    def __init__(self, *args, models: list[str], gpts: Sequence[GPT] = (), **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.models = models
        self.gpts = list(gpts)  # offered in their own group, by name
        cast(forms.ChoiceField, self.fields["model"]).choices = [(m, m) for m in models] + [
            (gpt.model_id, gpt.name) for gpt in self.gpts
        ]


# GPTs (chat.models.GPT)

GPT_ID_RE = re.compile(r"g-[A-Za-z0-9]{3,40}")
GPT_ICON_MAX_BYTES = 2 * 1024 * 1024
GPT_ICON_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
GPT_ICON_SIZE = 128


def extract_gizmo_id(text: str) -> str | None:
    """The `g-…` id of a GPT from what an owner pasted: its ChatGPT link
    (https://chatgpt.com/g/g-abc123-its-name), the bare id (g-abc123), or the model id
    (gpt-4-gizmo-g-abc123); None when there is none."""
    text = (text or "").strip()
    if "/" in text:
        path = urlsplit(text if "://" in text else f"https://{text}").path
        segments = [s for s in path.split("/") if s.startswith("g-")]
        match = GPT_ID_RE.match(segments[0]) if segments else None
        return match.group() if match else None
    text = text.removeprefix(GPT.MODEL_PREFIX)
    return text if GPT_ID_RE.fullmatch(text) else None


def _icon_png(upload) -> bytes:
    """A small square PNG of an uploaded picture; ValidationError if it is none."""
    from PIL import Image

    if upload.size > GPT_ICON_MAX_BYTES:
        raise ValidationError(_("The icon may be at most 2 MB."), code="too_big")
    try:
        # Only the types the form names: every other decoder Pillow has is attack surface.
        with Image.open(upload, formats=GPT_ICON_FORMATS) as image:
            if image.width * image.height > 40_000_000:
                raise ValidationError(_("The icon is too large."), code="too_big")
            image.thumbnail((GPT_ICON_SIZE, GPT_ICON_SIZE))
            out = io.BytesIO()
            image.convert("RGBA").save(out, "PNG")
            return out.getvalue()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ValidationError(
            _("The icon must be a picture (PNG, JPEG, GIF or WebP)."), code="not_a_picture"
        ) from None


class GPTForm(forms.ModelForm):
    source = forms.CharField(
        label=_("ChatGPT link or GPT id"),
        max_length=500,
        help_text=_("For example https://chatgpt.com/g/g-abc123-name, or g-abc123."),
    )
    icon_upload = forms.FileField(label=_("Icon"), required=False)

    class Meta:
        model = GPT
        fields = ["name", "description"]

    def __init__(self, *args, team, **kwargs) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self.team = team
        self.icon_bytes: bytes | None = None

    def clean_source(self) -> str:
        gizmo_id = extract_gizmo_id(self.cleaned_data["source"])
        if gizmo_id is None:
            raise ValidationError(
                _("Paste the GPT's ChatGPT link or its id (it starts with g-)."), code="no_id"
            )
        if GPT.objects.for_team(self.team.pk).filter(gizmo_id=gizmo_id).exists():
            raise ValidationError(_("This GPT is already on the list."), code="duplicate")
        return gizmo_id

    def clean_icon_upload(self):
        upload = self.cleaned_data.get("icon_upload")
        if upload:
            self.icon_bytes = _icon_png(upload)
        return upload

    def save_for(self, *, user) -> GPT:
        gpt = self.save(commit=False)
        gpt.team = self.team
        gpt.gizmo_id = self.cleaned_data["source"]
        gpt.created_by = user
        if self.icon_bytes:
            gpt.icon.save("icon.png", ContentFile(self.icon_bytes), save=False)
        gpt.save()
        return gpt
