"""Read aloud's settings on the Settings page: the voice (today's list; the ones the site's
speech model does not know are marked and refused), the speed and auto-play, with a button
that plays a sample."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

URL = reverse("accounts:settings")


@pytest.fixture(autouse=True)
def gateway_models(monkeypatch, settings):
    settings.SPEECH_MODEL = "tts-1"
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["gpt-4o"])


def _data(**changes):
    base = {"display_name": "", "default_model": "", "theme": "system", "language": ""}
    return base | changes


def test_the_page_offers_every_voice_marks_the_unknown_ones_and_a_sample(alice_client):
    content = alice_client.get(URL).content.decode()
    assert '<option value="alloy" selected>Alloy</option>' in content
    assert '<option value="marin">Marin (not with tts-1)</option>' in content
    assert '<option value="shimmer">Shimmer</option>' in content
    assert 'id="speech-sample"' in content and reverse("chat:speech_sample") in content
    assert 'name="speech_speed"' in content and 'name="speech_autoplay"' in content


def test_voice_speed_and_autoplay_are_saved(alice_client, alice):
    data = _data(speech_voice="nova", speech_speed="1.5", speech_autoplay="on")
    assert alice_client.post(URL, data).status_code == 302
    alice.refresh_from_db()
    assert (alice.speech_voice, alice.speech_speed, alice.speech_autoplay) == (
        "nova",
        Decimal("1.5"),
        True,
    )


def test_a_voice_the_model_does_not_know_is_refused(alice_client, alice, settings):
    response = alice_client.post(URL, _data(speech_voice="marin"))
    assert response.status_code == 400
    assert "tts-1 does not know this voice" in response.content.decode()
    settings.SPEECH_MODEL = "gpt-4o-mini-tts"
    assert alice_client.post(URL, _data(speech_voice="marin")).status_code == 302
    alice.refresh_from_db()
    assert alice.speech_voice == "marin"


@pytest.mark.parametrize("speed", ["0.1", "4.5", "fast"])
def test_a_speed_out_of_range_is_refused(alice_client, speed):
    assert alice_client.post(URL, _data(speech_speed=speed)).status_code == 400


def test_the_conversation_page_carries_the_autoplay_setting(alice_client, alice, team):
    from tests.factories import make_conversation

    conversation = make_conversation(team, alice)
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert 'id="speech-settings" hidden data-autoplay="false"' in page
    alice.speech_autoplay = True
    alice.save(update_fields=["speech_autoplay"])
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert 'data-autoplay="true"' in page
