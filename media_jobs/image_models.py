"""What the images API offers per model: the choices of the Image and Edit image forms
(sizes, qualities, styles, how many at once), the models offered, and the price before
sending. Pure rules, plus reads of caches (never a wait on the gateway)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from gateway import catalogue
from gateway.images import images_sent, only_b64
from usage import services as usage

DALL_E_3, DALL_E_2, GPT_IMAGE, OTHER = "dall-e-3", "dall-e-2", "gpt-image", "other"

SIZES: dict[str, tuple[str, ...]] = {
    DALL_E_3: ("1024x1024", "1792x1024", "1024x1792"),
    DALL_E_2: ("256x256", "512x512", "1024x1024"),
    GPT_IMAGE: ("1024x1024", "1536x1024", "1024x1536", "auto"),
    OTHER: ("1024x1024", "1024x768", "768x1024", "512x512"),
}
QUALITIES = {DALL_E_3: (("standard", _("Standard")), ("hd", _("HD")))}
STYLES = {DALL_E_3: (("vivid", _("Vivid")), ("natural", _("Natural")))}
MAX_N = {DALL_E_3: 1, DALL_E_2: 4, GPT_IMAGE: 4, OTHER: 4}
# Models whose edits (a reference image and a mask) the images API serves.
EDIT_FAMILIES = (GPT_IMAGE, DALL_E_2)


def family(model: str) -> str:
    lowered = model.lower()
    if lowered.startswith("dall-e-3"):
        return DALL_E_3
    if lowered.startswith("dall-e"):
        return DALL_E_2
    if only_b64(lowered):
        return GPT_IMAGE
    return OTHER


def sizes_for(model: str) -> tuple[str, ...]:
    return SIZES[family(model)]


def qualities_for(model: str) -> tuple[tuple[str, object], ...]:
    return QUALITIES.get(family(model), ())


def styles_for(model: str) -> tuple[tuple[str, object], ...]:
    return STYLES.get(family(model), ())


def max_n(model: str) -> int:
    return MAX_N[family(model)]


def default_size(model: str) -> str:
    sizes = sizes_for(model)
    wanted = str(settings.IMAGE_DEFAULT_SIZE)
    return wanted if wanted in sizes else sizes[0]


def offered_models(*, edits: bool = False) -> list[str]:
    """The image models the gateway lists (its last cached listing), the default first and
    always there; for `edits`, only the models whose edits the API serves."""
    default = str(settings.IMAGE_DEFAULT_MODEL)
    listed = catalogue.list_image_models()
    models = [default, *sorted(m for m in listed if m != default)]
    if edits:
        models = [m for m in models if family(m) in EDIT_FAMILIES]
        if not models:
            models = ["gpt-image-1"]
    return models


def quote(model: str, *, n: int = 1, size: str = "", quality: str = "") -> usage.Quote:
    """The price of one call, as charged (media_jobs.billing reserves exactly this): per
    image x the size ratio x the HD ratio, for the images actually sent (`images_sent`)."""
    return usage.quote(model, images=images_sent(model, n), size=size, quality=quality)
