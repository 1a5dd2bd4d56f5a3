"""chat.frames: fragments keep the shapes of docs/chat-contract.md; constant ones are cached
once per language, and only those."""

from __future__ import annotations

import html

import pytest
from django.utils import translation

from chat import frames
from chat.live_render import LiveRenderer
from tests.factories import make_conversation

pytestmark = pytest.mark.django_db


def test_the_title_frame_is_the_contracts_markup_from_a_partial(team, alice):
    conversation = make_conversation(team, alice)
    title = """Tom & "Jerry" <b>'s</b>"""

    escaped = html.escape(title)
    assert frames.title_html(conversation, title) == (
        f'<span id="conversation-title" hx-swap-oob="innerHTML">{escaped}</span>'
        f'<span id="sidebar-title-{conversation.pk.hex}" hx-swap-oob="innerHTML"'
        f" data-oob-optional>{escaped}</span>"  # the entry may not be in the list shown
    )


def test_constant_fragments_are_rendered_once_per_language():
    frames._cached.cache_clear()
    with translation.override("en"):
        english = frames.controls_html(streaming=False)
        assert frames.controls_html(streaming=False) is english
        assert ">Send<" in english and ">Stop<" in english
    with translation.override("zh-hans"):
        chinese = frames.controls_html(streaming=False)
    assert chinese != english and ">发送<" in chinese
    info = frames._cached.cache_info()
    assert (info.hits, info.misses) == (1, 2)


def test_a_composer_with_text_or_an_error_is_not_cached():
    frames._cached.cache_clear()

    kept = frames.composer_html(text="my <draft>", error="Too long.")
    cleared = frames.error_html("")

    assert "my &lt;draft&gt;</textarea>" in kept and "Too long." in kept
    assert 'id="composer-error"' in cleared and " hidden" in cleared
    assert frames._cached.cache_info().currsize == 1  # the empty error line only


def test_viewers_get_no_controls():
    assert frames.controls_html(streaming=True, can_write=False) == ""


def test_deltas_status_and_live_region_are_escaped():
    assert frames.delta_frame(7, "<b>") == (
        '<div id="message-7-text" hx-swap-oob="beforeend">&lt;b&gt;</div>'
    )
    assert frames.status_frame(7, "a&b") == (
        '<span id="message-7-status" hx-swap-oob="innerHTML">a&amp;b</span>'
    )
    assert frames.live_region_frame("<i>") == (
        '<div id="live-region" hx-swap-oob="innerHTML">&lt;i&gt;</div>'
    )


def test_block_and_tail_frames_append_html_and_replace_the_tail() -> None:
    assert frames.blocks_frame(7, "<p>a</p>\n") == (
        '<div id="message-7-blocks" hx-swap-oob="beforeend"><p>a</p>\n</div>'
    )
    # The tail comes drawn and escaped by chat.live_render (LiveRenderer.tail_html).
    renderer = LiveRenderer()
    renderer.feed("<b>&")
    assert frames.tail_frame(7, renderer.tail_html("message-7")) == (
        '<div id="message-7-text" hx-swap-oob="innerHTML">&lt;b&gt;&amp;</div>'
    )
    assert frames.rows_frame(7, "<tr><td>1</td></tr>") == (
        '<template><tbody id="message-7-rows" hx-swap-oob="beforeend">'
        "<tr><td>1</td></tr></tbody></template>"
    )
