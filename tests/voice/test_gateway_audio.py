"""gateway.audio against the demo gateway: multipart with the name's extension, the
member's language, and the 500 a wrong extension gets, in plain words."""

from __future__ import annotations

import pytest

from demo_gateway import audio as demo_audio
from gateway import audio
from gateway.errors import GatewayRateLimited
from tests.voice.conftest import make_audio


def _fields(request) -> dict:
    return demo_audio.parse_multipart(request.headers["content-type"], request.body)


async def test_a_transcription_sends_the_file_and_language(demo_gateway):
    data = make_audio("webm", seconds=2)
    text = await audio.transcribe(data, "audio.webm", language="fr")
    assert text.startswith("2.0 secondes d'audio transcrites.")
    assert "renard" in text
    fields = _fields(demo_gateway.last_request)
    assert demo_gateway.last_request.path == "/v1/audio/transcriptions"
    assert fields["file"] == ("audio.webm", data)
    assert fields["language"][1] == b"fr"
    assert fields["model"][1] == b"whisper-1"


async def test_without_a_language_none_is_sent(demo_gateway):
    text = await audio.transcribe(make_audio("mp3", seconds=1), "audio.mp3")
    assert text.startswith("Transcribed 1.0 seconds of audio.")
    assert "language" not in _fields(demo_gateway.last_request)


async def test_a_translation_is_english(demo_gateway):
    text = await audio.translate(make_audio("m4a", seconds=1), "audio.m4a")
    assert "quick brown fox" in text
    assert demo_gateway.last_request.path == "/v1/audio/translations"


@pytest.mark.parametrize("name", ["audio.mp4", "audio", "audio.txt"])
async def test_a_name_that_lies_is_a_clear_error(demo_gateway, name):
    with pytest.raises(audio.GatewayAudioUnreadable) as caught:
        await audio.transcribe(make_audio("webm", seconds=1), name)
    assert caught.value.status == 500
    assert "could not read this recording's format" in caught.value.user_message


async def test_other_gateway_errors_map_as_usual(demo_gateway):
    demo_gateway.scenario = "http_429"
    with pytest.raises(GatewayRateLimited):
        await audio.transcribe(make_audio("webm", seconds=1), "audio.webm")
