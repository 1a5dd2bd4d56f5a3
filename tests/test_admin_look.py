"""The admin looks like the product: Parlor's icon and name, its colours in both themes, and
every label of our models in Simplified Chinese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib import admin
from django.contrib.admin.utils import label_for_field
from django.urls import reverse
from django.utils import translation
from django.utils.text import capfirst

from tests.factories import make_user
from tests.test_contrast import contrast

ROOT = Path(__file__).resolve().parents[1]
ADMIN_CSS = (ROOT / "static/css/admin.css").read_text()
APP_CSS = (ROOT / "static/css/app.css").read_text()
OUR_APPS = {"accounts", "chat", "media_jobs"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans"}


@pytest.fixture
def installed(db):
    """Past first-run setup (before it, every page redirects there)."""
    return make_user("someone")


@pytest.fixture
def admin_client_(client, installed):
    root = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(root)
    return client


def _our_model_admins():
    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in OUR_APPS
    ]


# --- icon and name ---------------------------------------------------------------------


def test_favicon_is_a_static_svg_and_favicon_ico_redirects_to_it(client, installed):
    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("/favicon.svg")
    svg = client.get(response["Location"])
    assert svg.status_code == 200
    assert svg["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in b"".join(svg.streaming_content)


def test_app_pages_link_the_favicon(client, installed):
    page = client.get(reverse("accounts:login")).content.decode()

    assert re.search(r'<link rel="icon" href="/static/favicon\.svg"', page)


def test_admin_pages_carry_parlors_name_icon_and_stylesheet(admin_client_):
    for url in (reverse("admin:index"), reverse("admin:accounts_team_changelist")):
        page = admin_client_.get(url).content.decode()
        assert '<link rel="icon" href="/static/favicon.svg"' in page
        assert 'href="/static/css/admin.css"' in page
        assert 'class="parlor-brand"' in page
        assert "Parlor administration</title>" in page
        assert "Django administration" not in page


def test_the_login_page_has_the_theme_toggle(client, installed):
    page = client.get(reverse("admin:login")).content.decode()

    assert 'class="theme-toggle"' in page
    assert 'href="/static/css/admin.css"' in page


# --- colours -----------------------------------------------------------------------


def _block(selector: str) -> dict[str, str]:
    """The custom properties of the first rule whose selector list ends with `selector`."""
    match = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", ADMIN_CSS)
    assert match, selector
    return dict(re.findall(r"(--[\w-]+):\s*([^;]+);", match.group(1)))


def _app(name: str) -> tuple[str, str]:
    match = re.search(r"--" + name + r":\s*light-dark\((#\w+),\s*(#\w+)\)", APP_CSS)
    assert match, name
    return match.group(1), match.group(2)


def _themes() -> dict[str, dict[str, str]]:
    dark_media = re.search(
        r"@media \(prefers-color-scheme: dark\)\s*\{\s*:root\s*\{([^}]*)\}", ADMIN_CSS
    )
    assert dark_media
    return {
        "light": _block(":root"),
        "dark": _block('html[data-theme="dark"]'),
        "dark-media": dict(re.findall(r"(--[\w-]+):\s*([^;]+);", dark_media.group(1))),
    }


def test_the_dark_palette_is_the_same_by_preference_and_by_toggle():
    themes = _themes()

    assert themes["dark"] == themes["dark-media"]
    assert set(themes["light"]) == set(themes["dark"])


@pytest.mark.parametrize(("theme", "side"), [("light", 0), ("dark", 1)])
def test_the_admin_uses_the_apps_palette(theme, side):
    palette = _themes()[theme]

    assert palette["--body-bg"] == _app("bg")[side]
    assert palette["--body-fg"] == _app("text")[side]
    assert palette["--body-quiet-color"] == _app("text-muted")[side]
    assert palette["--primary"] == _app("accent")[side]
    assert palette["--button-bg"] == _app("accent")[side]
    assert palette["--header-bg"] == _app("bg-subtle")[side]
    assert palette["--hairline-color"] == _app("border")[side]


# Text colour, background: pairs of the admin's variables that are read together.
PAIRS = [
    ("--body-fg", "--body-bg"),
    ("--body-quiet-color", "--body-bg"),
    ("--link-fg", "--body-bg"),
    ("--header-link-color", "--header-bg"),
    ("--header-color", "--header-bg"),
    ("--accent", "--header-bg"),
    ("--breadcrumbs-fg", "--breadcrumbs-bg"),
    ("--breadcrumbs-link-fg", "--breadcrumbs-bg"),
    ("--button-fg", "--button-bg"),
    ("--button-fg", "--default-button-bg"),
    ("--button-fg", "--delete-button-bg"),
    ("--error-fg", "--body-bg"),
    ("--body-fg", "--selected-row"),
    ("--link-fg", "--darkened-bg"),
]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_admin_text_meets_aa_in_both_themes(theme):
    palette = _themes()[theme]
    failing = [
        f"{fg} on {bg}: {contrast(palette[fg], palette[bg]):.2f}"
        for fg, bg in PAIRS
        if contrast(palette[fg], palette[bg]) < 4.5
    ]
    assert failing == []


# --- Simplified Chinese ---------------------------------------------------------------


def _english_labels(model, model_admin) -> set[str]:
    """The English names of a model and of the columns and filters its changelist shows."""
    with translation.override("en"):
        names = {str(model._meta.verbose_name), str(model._meta.verbose_name_plural)}
        for name in [*model_admin.list_display, *model_admin.list_filter]:
            if isinstance(name, str) and name not in ("__str__", "action_checkbox"):
                names.add(str(label_for_field(name, model, model_admin)))
            elif isinstance(name, type) and hasattr(name, "title"):
                names.add(str(name.title))
    return {capfirst(n) for n in names} | {n.lower() for n in names}


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _english_in(text: str, labels: set[str]) -> list[str]:
    return sorted(label for label in labels if re.search(rf"\b{re.escape(label)}\b", text))


def test_every_model_of_ours_has_translated_names():
    with translation.override("zh-hans"):
        for model, _model_admin in _our_model_admins():
            for name in (model._meta.verbose_name, model._meta.verbose_name_plural):
                assert re.search(r"[\u4e00-\u9fff]", str(name)), (model, name)
            for field in model._meta.get_fields():
                label = getattr(field, "verbose_name", None)
                if label is not None and field.concrete and not field.primary_key:
                    assert re.search(r"[\u4e00-\u9fff]", str(label)), (model, field.name, label)


def test_the_admin_index_names_no_model_in_english(admin_client_):
    page = _visible_text(admin_client_.get(reverse("admin:index"), **ZH).content.decode())
    labels = set()
    for model, model_admin in _our_model_admins():
        labels |= {capfirst(str(n)) for n in _english_labels(model, model_admin)}

    assert "站点管理" in page or "Parlor" in page
    assert _english_in(page, labels) == []


@pytest.mark.parametrize(
    "model_admin_name",
    [
        "accounts.team",
        "accounts.membership",
        "accounts.invite",
        "chat.conversation",
        "chat.message",
        "media_jobs.mediajob",
    ],
)
def test_each_changelist_is_in_chinese(admin_client_, model_admin_name):
    app_label, model_name = model_admin_name.split(".")
    pairs = {f"{m._meta.app_label}.{m._meta.model_name}": (m, a) for m, a in _our_model_admins()}
    model, model_admin = pairs[model_admin_name]
    url = reverse(f"admin:{app_label}_{model_name}_changelist")

    page = _visible_text(admin_client_.get(url, **ZH).content.decode())

    assert _english_in(page, _english_labels(model, model_admin)) == []


def test_every_model_of_ours_in_the_admin_is_checked():
    registered = {f"{m._meta.app_label}.{m._meta.model_name}" for m, _ in _our_model_admins()}

    assert registered == {
        "accounts.team",
        "accounts.membership",
        "accounts.invite",
        "accounts.user",
        "chat.conversation",
        "chat.message",
        "chat.visionmodel",
        "media_jobs.mediajob",
    }


@pytest.mark.parametrize("model_name", ["team", "membership", "invite"])
def test_add_forms_label_their_fields_in_chinese(admin_client_, model_name):
    model = next(m for m, _ in _our_model_admins() if m._meta.model_name == model_name)
    page = _visible_text(
        admin_client_.get(reverse(f"admin:accounts_{model_name}_add"), **ZH).content.decode()
    )
    with translation.override("en"):
        labels = {
            capfirst(str(f.verbose_name))
            for f in model._meta.get_fields()
            if getattr(f, "verbose_name", None) and f.concrete and not f.auto_created
        }

    assert _english_in(page, labels) == []
