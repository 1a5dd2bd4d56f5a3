"""Settings: the voice input language (detected by default) and the auto-send countdown
(off by default), as the conversation page hands them to record.js."""

from __future__ import annotations

from django.urls import reverse

from tests.factories import make_conversation


def test_voice_settings_default_off_and_save(alice_client, alice, team):
    page = alice_client.get(reverse("accounts:settings")).content.decode()
    assert 'name="transcription_language"' in page and "Detect automatically" in page
    response = alice_client.post(
        reverse("accounts:settings"),
        {"theme": "system", "transcription_language": "ja", "voice_autosend_seconds": "4"},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.transcription_language, alice.voice_autosend_seconds) == ("ja", 4)
    conversation = make_conversation(team, alice)
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert 'data-send-after="4"' in page
    assert reverse("voice:upload", args=[conversation.pk]) in page
    assert ">Record voice</button>" in page
    assert '<option value="translate">Translate audio</option>' in page


def test_a_language_not_offered_is_refused(alice_client, alice):
    response = alice_client.post(
        reverse("accounts:settings"), {"theme": "system", "transcription_language": "la"}
    )
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.transcription_language == ""
