"""The demo gateway's text to speech: POST /v1/audio/speech (docs/gateway-api.md, "Audio").

Real audio in the asked format: beeps (a pitch per voice) whose length follows the text and
the speed; wav and pcm with the standard library, mp3, opus, aac and flac through PyAV. Like
one-api it refuses an input over 4,096 BYTES (400 `text_too_long`); a model it does not serve
is a 503, an unknown voice or a speed outside 0.25-4 a 400. The answer starts after a
realistic time to first byte (150 ms plus a little per character, scaled by the gateway's
pace) and its body arrives in chunks.

Scenarios (header `X-Demo-Scenario`, a `[demo:NAME]` marker in `input`, or the gateway's
default): every error scenario of the chat route, `html_200` (the console page), and
`speech_json_200`: an error as JSON inside a 200, which a client must not store as audio.
"""

from __future__ import annotations

import array
import asyncio
import functools
import io
import math
import wave
import zlib
from typing import TYPE_CHECKING, Any

from demo_gateway import scenarios
from demo_gateway.scenarios import Reply

if TYPE_CHECKING:
    from demo_gateway.server import DemoGateway, RecordedRequest

PATH = "/v1/audio/speech"
MAX_INPUT_BYTES = 4096
VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
LEGACY_VOICES = frozenset({"alloy", "echo", "fable", "onyx", "nova", "shimmer"})
LEGACY_MODELS = frozenset({"tts-1", "tts-1-hd"})
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
# PyAV container, codec and sample rate per compressed format.
_ENCODERS = {
    "mp3": ("mp3", "libmp3lame", 16000),
    "opus": ("ogg", "libopus", 48000),
    "aac": ("adts", "aac", 24000),
    "flac": ("flac", "flac", 24000),
}
RATE = 24000  # pcm: raw 24 kHz 16-bit mono, as the real API sends it
SECONDS_PER_CHAR = 0.005  # short audio keeps the demo and the tests quick
BEEP, GAP = 0.08, 0.04  # seconds of tone and of silence in each beep
# Time to first byte at the normal pace (token_delay 0.02): a base plus a cost per character.
FIRST_BYTE_SECONDS = 0.15
FIRST_BYTE_PER_CHAR = 0.00005
NORMAL_PACE = 0.02
CHUNK = 16 * 1024
CHUNK_PAUSE = 0.002
SPEECH_SCENARIOS = frozenset({"speech_json_200"})


def has_av() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def duration(text: str, speed: float) -> float:
    return max(BEEP + GAP, len(text) * SECONDS_PER_CHAR / speed)


def pitch(voice: str) -> float:
    """A tone per voice, so two voices sound different."""
    return 220.0 + zlib.crc32(voice.encode()) % 440


@functools.lru_cache(maxsize=64)
def pcm(seconds: float, voice: str) -> bytes:
    """Beeps for `seconds`: 16-bit mono samples at RATE."""
    frequency = pitch(voice)
    tone, gap = int(BEEP * RATE), int(GAP * RATE)
    cycle = array.array(
        "h",
        [int(9000 * math.sin(2 * math.pi * frequency * i / RATE)) for i in range(tone)] + [0] * gap,
    ).tobytes()
    samples = int(seconds * RATE)
    repeats = samples // (tone + gap) + 1
    return (cycle * repeats)[: samples * 2]


def wav(samples: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(samples)
    return out.getvalue()


def encode(samples: bytes, fmt: str) -> bytes:
    """`samples` (RATE, 16-bit mono) as `fmt` through PyAV."""
    import av

    container_format, codec, rate = _ENCODERS[fmt]
    out = io.BytesIO()
    container = av.open(out, "w", format=container_format)
    stream: Any = container.add_stream(codec, rate=rate, layout="mono")
    if fmt == "mp3":
        stream.bit_rate = 32000
    resampler = av.AudioResampler(format=stream.codec_context.format, layout="mono", rate=rate)
    step, pts = RATE // 5, 0
    for offset in range(0, len(samples), step * 2):
        chunk = samples[offset : offset + step * 2]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
        frame.planes[0].update(chunk)
        frame.sample_rate, frame.pts = RATE, pts
        pts += len(chunk) // 2
        for converted in resampler.resample(frame):
            for packet in stream.encode(converted):
                container.mux(packet)
    for converted in resampler.resample(None):
        for packet in stream.encode(converted):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    return out.getvalue()


@functools.lru_cache(maxsize=64)
def audio(characters: int, voice: str, speed: float, fmt: str) -> bytes:
    """The audio of a text of `characters` characters (kept: the same request is answered
    without encoding again)."""
    samples = pcm(round(duration("x" * characters, speed), 2), voice)
    if fmt == "pcm":
        return samples
    if fmt == "wav":
        return wav(samples)
    return encode(samples, fmt)


def check(body: Any, models: list[str], request_id: str) -> Reply | None:
    """The error a speech request gets, or None if it is served."""
    if not isinstance(body, dict):
        return scenarios.error_a(400, "invalid request body", request_id, code="invalid_request")
    model, text = body.get("model"), body.get("input")
    if not isinstance(model, str) or not model:
        return scenarios.error_a(400, "未指定模型名称，模型名称不能为空", request_id)  # noqa: RUF001
    if model not in models:
        message = f"当前分组 default 下对于模型 {model} 无可用渠道"
        return scenarios.error_a(503, message, request_id)
    if not isinstance(text, str) or not text.strip():
        return scenarios.error_a(400, "input is required", request_id, code="invalid_request")
    if len(text.encode()) > MAX_INPUT_BYTES:
        message = f"text too long, max {MAX_INPUT_BYTES} bytes"
        return scenarios.error_a(400, message, request_id, code="text_too_long")
    voice = body.get("voice")
    known = LEGACY_VOICES if model in LEGACY_MODELS else VOICES
    if voice not in known:
        message = f"Invalid voice {voice!r} for {model}"
        return scenarios.error_a(
            400, message, request_id, err_type="invalid_request_error", code="invalid_voice"
        )
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.25 <= speed <= 4:
        message = "speed must be between 0.25 and 4.0"
        return scenarios.error_a(400, message, request_id, err_type="invalid_request_error")
    fmt = body.get("response_format", "mp3")
    if fmt not in CONTENT_TYPES or (fmt in _ENCODERS and not has_av()):
        message = f"response_format {fmt!r} is not supported"
        return scenarios.error_a(400, message, request_id, err_type="invalid_request_error")
    return None


def json_error_200(request_id: str) -> Reply:
    """An upstream error passed through with status 200, as some relays do."""
    error = scenarios.error_a(500, "upstream TTS failed: voice engine busy", request_id)
    return Reply(200, error.body, error.content_type)


async def answer(
    gateway: DemoGateway,
    request: RecordedRequest,
    writer: asyncio.StreamWriter,
    request_id: str,
    keep_alive: bool,
) -> bool:
    """Serve one POST /v1/audio/speech."""
    if not gateway._authorized(request.headers.get("authorization")):
        reply = scenarios.auth_error(request.headers.get("authorization"), request_id)
        return await gateway._send(writer, reply, request_id, keep_alive)
    body = request.json
    given = body.get("input") if isinstance(body, dict) else None
    text = given if isinstance(given, str) else ""
    scenario = scenarios.select(request.headers.get("x-demo-scenario"), text, None)
    scenario = gateway.scenario if scenario == "normal" and gateway.scenario else scenario
    if scenario in scenarios.ERROR_SCENARIOS:
        model = body.get("model") if isinstance(body, dict) else ""
        reply = scenarios.scenario_error(scenario, str(model or ""), request_id)
        return await gateway._send(writer, reply, request_id, keep_alive)
    if scenario == "html_200":
        return await gateway._send(writer, scenarios.console_page(), request_id, keep_alive)
    if scenario == "speech_json_200":
        return await gateway._send(writer, json_error_200(request_id), request_id, keep_alive)
    refusal = check(body, gateway.models, request_id)
    if refusal is not None:
        return await gateway._send(writer, refusal, request_id, keep_alive)
    fmt = body.get("response_format", "mp3")
    pace = gateway.token_delay / NORMAL_PACE
    clock = asyncio.get_running_loop().time
    due = clock() + (FIRST_BYTE_SECONDS + FIRST_BYTE_PER_CHAR * len(text)) * pace
    speed = float(body.get("speed", 1.0))
    data = await asyncio.to_thread(audio, len(text), body["voice"], speed, fmt)
    wait = due - clock()
    if wait > 0:
        await asyncio.sleep(wait)
    extra = f"Content-Type: {CONTENT_TYPES[fmt]}\r\nTransfer-Encoding: chunked\r\n".encode()
    writer.write(gateway._head(200, request_id, extra, keep_alive))
    for offset in range(0, len(data), CHUNK):
        if offset:
            await asyncio.sleep(CHUNK_PAUSE * pace)
        piece = data[offset : offset + CHUNK]
        writer.write(b"%x\r\n%b\r\n" % (len(piece), piece))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    return keep_alive
