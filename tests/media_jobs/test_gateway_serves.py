"""What the gateway does not serve is not offered: the composer's media modes and the studio's
tools of a family the gateway check found absent are hidden; unknown hides nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from chat import frames
from config import gateway_check
from demo_gateway import start_in_thread
from tests.factories import make_conversation
from tests.fixtures.gateway_check import remember_check

pytestmark = pytest.mark.django_db


def _modes(html: str) -> set[str]:
    modes = ("imagine", "suno", "luma", "image", "translate")
    return {mode for mode in modes if f'<option value="{mode}">' in html}


def _tools(html: str) -> set[str]:
    names = ("imagine", "blend", "describe", "suno", "lyrics", "luma", "image")
    return {name for name in names if reverse("media_jobs:new", args=[name]) in html}


def test_every_media_mode_is_offered_before_any_check(alice_client, team, alice):
    page = alice_client.get(make_conversation(team, alice).get_absolute_url())

    assert _modes(page.content.decode()) == {"imagine", "suno", "luma", "image", "translate"}


def test_an_absent_family_leaves_the_composer(alice_client, team, alice):
    conversation = make_conversation(team, alice)
    remember_check(absent=["midjourney", "luma", "images"])

    page = alice_client.get(conversation.get_absolute_url()).content.decode()

    assert _modes(page) == {"suno", "translate"}
    assert 'id="composer-mode"' in page
    # The composer the socket sends after a reply follows the same answer.
    assert _modes(frames.composer_html()) == {"suno", "translate"}
    remember_check(absent=["suno", "audio_translation"])
    assert _modes(frames.composer_html()) == {"imagine", "luma", "image"}


def test_with_every_media_family_absent_the_mode_select_goes(alice_client, team, alice):
    remember_check(
        absent=["midjourney", "suno", "luma", "images", "audio_translation", "completions"]
    )

    page = alice_client.get(make_conversation(team, alice).get_absolute_url()).content.decode()

    assert 'id="composer-mode"' not in page and 'id="composer-text"' in page


def test_an_absent_family_leaves_the_studios_tools(alice_client):
    gallery = reverse("media_jobs:gallery")
    assert _tools(alice_client.get(gallery).content.decode()) == {
        "imagine", "blend", "describe", "suno", "lyrics", "luma", "image",
    }  # fmt: skip

    remember_check(absent=["midjourney", "images"])

    assert _tools(alice_client.get(gallery).content.decode()) == {"suno", "lyrics", "luma"}
    new = alice_client.get(reverse("media_jobs:new", args=["suno"])).content.decode()
    assert _tools(new) == {"suno", "lyrics", "luma"}


def test_the_demo_gateway_without_luma_hides_luma_end_to_end(alice_client, team, alice, settings):
    demo = start_in_thread(token_delay=0.001, without=["luma"])
    settings.GATEWAY_BASE_URL, settings.GATEWAY_API_KEY = demo.base_url, demo.api_key
    try:
        gateway_check.run_now()
    finally:
        demo.stop_thread()

    page = alice_client.get(make_conversation(team, alice).get_absolute_url()).content.decode()
    studio = alice_client.get(reverse("media_jobs:gallery")).content.decode()

    assert _modes(page) == {"imagine", "suno", "image", "translate"}
    assert "luma" not in _tools(studio) and "imagine" in _tools(studio)
