"""Code highlighting meets WCAG AA (4.5:1 for normal text) in both themes: every token colour
of static/css/pygments.css against every background a code block can have in that theme."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYGMENTS = (ROOT / "static/css/pygments.css").read_text()
APP = (ROOT / "static/css/app.css").read_text()
AA = 4.5

DARK_MEDIA = ':root:not([data-theme="light"]) '
DARK_CHOSEN = '[data-theme="dark"] '
_HEX = r"#[0-9A-Fa-f]{3}(?:[0-9A-Fa-f]{3})?\b"


def luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of #rgb or #rrggbb."""
    digits = hex_colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _declarations(prefix: str) -> dict[str, str]:
    """Token class -> declarations, for the rules `<prefix>.codeblock .cls { ... }`."""
    rule = re.compile(r"^" + re.escape(prefix) + r"\.codeblock \.([\w-]+) \{([^}]*)\}", re.M)
    return {m.group(1): m.group(2) for m in rule.finditer(PYGMENTS)}


def _property(declarations: str, name: str) -> str | None:
    match = re.search(r"(?<![-\w])" + name + r":\s*(" + _HEX + ")", declarations)
    return match.group(1) if match else None


def _block(prefix: str) -> str:
    match = re.search(r"^" + re.escape(prefix) + r"\.codeblock \{([^}]*)\}", PYGMENTS, re.M)
    assert match, prefix
    return match.group(1)


def _app_variable(name: str) -> tuple[str, str]:
    match = re.search(r"--" + name + r":\s*light-dark\((" + _HEX + r"),\s*(" + _HEX + r")\)", APP)
    assert match, name
    return match.group(1), match.group(2)


def _theme(theme: str) -> tuple[dict[str, str], list[str]]:
    """The token colours and the code block backgrounds of a theme."""
    code_bg = _app_variable("code-bg")
    if theme == "light":
        declarations = _declarations("")
        backgrounds = [code_bg[0], _property(_block(""), "background")]
    else:
        declarations = _declarations(DARK_CHOSEN)
        backgrounds = [code_bg[1], _property(_block(DARK_CHOSEN), "background")]
    colours = {}
    for token, body in declarations.items():
        colour = _property(body, "color")
        if colour:
            colours[token] = colour
    return colours, [bg for bg in backgrounds if bg]


def test_the_ratio_is_wcag_s():
    assert contrast("#000", "#fff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def test_both_themes_have_token_colours_and_backgrounds():
    for theme in ("light", "dark"):
        colours, backgrounds = _theme(theme)
        assert len(colours) > 40, theme
        assert len(backgrounds) == 2, theme


def test_the_dark_theme_is_the_same_by_preference_and_by_choice():
    assert _declarations(DARK_MEDIA) == _declarations(DARK_CHOSEN)
    assert _block(DARK_MEDIA) == _block(DARK_CHOSEN)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_token_colour_meets_aa_on_the_code_background(theme):
    colours, backgrounds = _theme(theme)
    declarations = _declarations("" if theme == "light" else DARK_CHOSEN)
    failing = []
    for token, colour in sorted(colours.items()):
        own = _property(declarations[token], "background-color")
        for background in [own] if own else backgrounds:
            ratio = contrast(colour, background)
            if ratio < AA:
                failing.append(f".{token} {colour} on {background}: {ratio:.2f}")
    assert failing == [], failing


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_plain_code_text_meets_aa(theme):
    text_light, text_dark = _app_variable("text")
    _, backgrounds = _theme(theme)
    text = text_light if theme == "light" else _property(_block(DARK_CHOSEN), "color")
    assert text
    for background in backgrounds:
        assert contrast(text, background) >= AA
    assert text_dark
