"""What a Midjourney button shows: words beside the emoji, so a button never shows only a
glyph the reader's font may lack."""

from __future__ import annotations

import pytest

from media_jobs.models import MediaJob
from media_jobs.templatetags.media_jobs import button_aria, button_text, card_title


@pytest.mark.parametrize(
    ("button", "shown"),
    [
        ({"label": "U1", "emoji": ""}, "U1"),
        ({"label": "Vary (Region)", "emoji": "🖌️"}, "🖌️ Vary (Region)"),
        ({"label": "", "emoji": "🔄"}, "🔄 Reroll"),
        ({"label": "", "emoji": "⬅️"}, "⬅️ Pan left"),
        ({"label": "", "emoji": "🤷"}, "🤷"),
        ({}, "?"),
    ],
)
def test_buttons_show_words(button, shown):
    assert button_text(button) == shown


def test_an_unknown_icon_only_button_still_has_a_name():
    assert button_aria({"label": "", "emoji": "🤷"}) == "Midjourney button"
    assert button_aria({"label": "", "emoji": "🔄"}) == "Reroll"
    assert button_aria({"label": "U2"}) == ""


@pytest.mark.parametrize(
    ("kind", "action", "title"),
    [
        ("image", "GENERATE", "Image"),
        ("image", "EDIT", "Edited image"),
        ("luma", "EXTEND", "Extend video"),
        ("suno", "LYRICS", "Lyrics"),
    ],
)
def test_a_card_is_titled_by_its_provider(kind, action, title):
    job = MediaJob(kind=kind, action=action)

    assert card_title(job) == title == str(job.title)
