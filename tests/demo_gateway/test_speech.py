"""The demo gateway's text to speech (docs/gateway-api.md, "Audio"), on the wire: real audio
in the asked format, one-api's byte limit, and an error inside a 200 on request."""

from __future__ import annotations

import io
import time
import wave

import av
import pytest

from demo_gateway import speech


def speech_body(text: str = "Hello there. How are you?", **extra) -> dict:
    return {"model": "tts-1", "input": text, "voice": "alloy", **extra}


def test_wav_is_a_real_wave_file_whose_length_follows_the_text(client):
    short = client.post("/v1/audio/speech", json=speech_body("Hi.", response_format="wav"))
    long = client.post("/v1/audio/speech", json=speech_body("Hi. " * 200, response_format="wav"))
    assert short.status_code == long.status_code == 200
    assert short.headers["content-type"] == "audio/wav"
    frames = []
    for response in (short, long):
        with wave.open(io.BytesIO(response.content)) as reader:
            assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
            assert reader.getframerate() == speech.RATE
            frames.append(reader.getnframes())
    assert frames[1] > 50 * frames[0] / 2  # 800 characters against 3


def test_speed_shortens_the_audio(client):
    slow = client.post("/v1/audio/speech", json=speech_body("x " * 300, response_format="pcm"))
    fast = client.post(
        "/v1/audio/speech", json=speech_body("x " * 300, response_format="pcm", speed=2.0)
    )
    assert len(fast.content) == pytest.approx(len(slow.content) / 2, rel=0.01)


@pytest.mark.parametrize(
    ("fmt", "content_type", "container"),
    [("mp3", "audio/mpeg", "mp3"), ("opus", "audio/ogg", "ogg"), ("flac", "audio/flac", "flac")],
)
def test_compressed_formats_decode_as_audio(client, fmt, content_type, container):
    response = client.post("/v1/audio/speech", json=speech_body(response_format=fmt))
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    with av.open(io.BytesIO(response.content)) as decoded:
        assert decoded.format.name.split(",")[0] == container
        stream = decoded.streams.audio[0]
        samples = sum(frame.samples for frame in decoded.decode(stream))
    assert samples > 0


def test_mp3_is_the_default_format(client):
    response = client.post("/v1/audio/speech", json=speech_body())
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.content[:3] == b"ID3" or response.content[0] == 0xFF


def test_input_over_4096_bytes_is_refused_like_one_api(client):
    # 1,366 CJK characters are 4,098 bytes: under 4,096 characters, over 4,096 bytes.
    response = client.post("/v1/audio/speech", json=speech_body("好" * 1366))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "text_too_long"
    assert client.post("/v1/audio/speech", json=speech_body("好" * 1365)).status_code == 200


def test_a_voice_tts_1_does_not_know_is_refused(client):
    response = client.post("/v1/audio/speech", json=speech_body(voice="marin"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_voice"


def test_speed_out_of_range_is_refused(client):
    assert client.post("/v1/audio/speech", json=speech_body(speed=5)).status_code == 400


def test_the_json_200_scenario_answers_an_error_with_status_200(client):
    response = client.post("/v1/audio/speech", json=speech_body("[demo:speech_json_200] Hello."))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "error" in response.json()


def test_error_scenarios_apply(client):
    response = client.post(
        "/v1/audio/speech", json=speech_body(), headers={"X-Demo-Scenario": "http_429"}
    )
    assert response.status_code == 429


def test_without_a_key_it_is_401(demo_gateway):
    import httpx

    response = httpx.post(demo_gateway.base_url + "/v1/audio/speech", json=speech_body())
    assert response.status_code == 401


def test_first_byte_comes_after_a_delay_that_grows_with_the_text(demo_gateway, client):
    demo_gateway.token_delay = speech.NORMAL_PACE  # the normal pace: 150 ms + per character
    client.post("/v1/audio/speech", json=speech_body("warm up", response_format="wav"))
    started = time.perf_counter()
    with client.stream(
        "POST", "/v1/audio/speech", json=speech_body("word " * 600, response_format="wav")
    ) as response:
        next(response.iter_raw())
        waited = time.perf_counter() - started
    expected = speech.FIRST_BYTE_SECONDS + speech.FIRST_BYTE_PER_CHAR * 3000
    assert expected * 0.9 <= waited < expected + 1.0
