"""The demo gateway's speech to text: `POST /v1/audio/transcriptions` and
`/v1/audio/translations` (docs/gateway-api.md, "Audio").

Like new-api, the duration (which bills the call) is measured by a parser chosen by the file
NAME's extension: a missing or wrong extension, or bytes that parser cannot read, is a 500
`count_audio_tokens_failed`. An upload over 25 MB is a 413. The answer is derived from the
audio: "Transcribed N.N seconds of audio." and a fixed sentence in the requested language
(English without one); a translation is always English. Failures on request: the
`X-Demo-Scenario` header (or the gateway's scenario) with any of the common error scenarios.
"""

from __future__ import annotations

import io
import json
from typing import Any

import av

from demo_gateway import scenarios
from demo_gateway.scenarios import Reply

PATHS = ("/v1/audio/transcriptions", "/v1/audio/translations")
MAX_BYTES = 25 * 1024 * 1024
MODELS = frozenset({"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"})
# Extension -> (the FFmpeg demuxer new-api's parser stands for, magic checks of the bytes).
PARSERS: dict[str, str] = {
    "mp3": "mp3",
    "mpga": "mp3",
    "mpeg": "mp3",
    "wav": "wav",
    "flac": "flac",
    "m4a": "mov",
    "mp4": "mov",
    "ogg": "ogg",
    "opus": "ogg",
    "webm": "matroska",
}
SENTENCES: dict[str, str] = {
    "en": "The quick brown fox jumps over the lazy dog.",
    "zh": "敏捷的棕色狐狸跳过了懒狗。",
    "fr": "Le renard brun rapide saute par-dessus le chien paresseux.",
    "de": "Der schnelle braune Fuchs springt über den faulen Hund.",
    "es": "El rápido zorro marrón salta sobre el perro perezoso.",
    "ja": "素早い茶色の狐がのろまな犬を飛び越える。",
    "it": "La volpe marrone veloce salta sopra il cane pigro.",
    "pt": "A rápida raposa marrom pula sobre o cão preguiçoso.",
    "ru": "Быстрая бурая лиса перепрыгивает через ленивую собаку.",
    "ko": "재빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
}
ENGLISH_LEAD = "Transcribed {seconds:.1f} seconds of audio."
LEADS: dict[str, str] = {
    "zh": "已转写 {seconds:.1f} 秒音频。",
    "fr": "{seconds:.1f} secondes d'audio transcrites.",
    "de": "{seconds:.1f} Sekunden Audio transkribiert.",
    "es": "Se transcribieron {seconds:.1f} segundos de audio.",
    "ja": "{seconds:.1f} 秒の音声を文字起こししました。",
}


def handles(path: str) -> bool:
    return path in PATHS


def _matches(extension: str, head: bytes) -> bool:
    """Do the bytes look like what the extension says (the parser new-api would pick)?"""
    parser = PARSERS.get(extension)
    if parser == "mp3":
        return head.startswith(b"ID3") or (head[:1] == b"\xff" and head[1:2] >= b"\xe0")
    if parser == "wav":
        return head.startswith(b"RIFF") and head[8:12] == b"WAVE"
    if parser == "flac":
        return head.startswith(b"fLaC")
    if parser == "mov":
        return head[4:8] == b"ftyp"
    if parser == "ogg":
        return head.startswith(b"OggS")
    if parser == "matroska":
        return head.startswith(b"\x1a\x45\xdf\xa3")
    return False


def measure(filename: str, data: bytes) -> float | None:
    """The duration in seconds as new-api measures it, by the name's extension; None when
    that parser cannot read the bytes."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in PARSERS or not _matches(extension, data[:16]):
        return None
    try:
        with av.open(io.BytesIO(data), mode="r", format=PARSERS[extension]) as container:
            if not container.streams.audio:
                return None
            if container.duration and container.duration > 0:
                return container.duration / av.time_base
            stream, end = container.streams.audio[0], 0.0
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            return end or None
    except (av.FFmpegError, OSError, ValueError):
        return None


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """Fields of a multipart/form-data body: name -> (file name or "", value bytes)."""
    boundary = ""
    for part in content_type.split(";")[1:]:
        key, _, setting = part.strip().partition("=")
        if key.lower() == "boundary":
            boundary = setting.strip('"')
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        return {}
    fields: dict[str, tuple[str, bytes]] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _sep, value = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, rest = line.partition(":")
            if name.strip().lower() == "content-disposition":
                disposition = rest
        params = _disposition(disposition)
        if "name" in params:
            fields[params["name"]] = (params.get("filename", ""), value.removesuffix(b"\r\n"))
    return fields


def _disposition(value: str) -> dict[str, str]:
    params = {}
    for part in value.split(";")[1:]:
        key, _, raw = part.strip().partition("=")
        params[key.strip().lower()] = raw.strip().strip('"')
    return params


def answer(request: Any, request_id: str, scenario: str | None) -> Reply:
    """The reply to an authorized transcription or translation request."""
    if scenario in scenarios.ERROR_SCENARIOS:
        return scenarios.scenario_error(scenario, "whisper-1", request_id)
    if len(request.body) > MAX_BYTES:
        return scenarios.error_a(
            413, "file too large: the limit is 25 MB", request_id, code="file_too_large"
        )
    fields = parse_multipart(request.headers.get("content-type", ""), request.body)
    filename, data = fields.get("file", ("", b""))
    if not data:
        return scenarios.error_a(400, "file is required", request_id, code="invalid_request")
    model = fields.get("model", ("", b"whisper-1"))[1].decode("utf-8", "replace")
    if model not in MODELS:
        return scenarios.error_a(503, f"当前分组 default 下对于模型 {model} 无可用渠道", request_id)
    seconds = measure(filename, data)
    if seconds is None:
        return scenarios.error_a(
            500,
            f"count_audio_tokens_failed: cannot get audio duration of {filename or 'file'}",
            request_id,
            code="count_audio_tokens_failed",
        )
    translating = request.path.endswith("/translations")
    language = "" if translating else fields.get("language", ("", b""))[1].decode().strip()
    language = language.lower() if language.lower() in SENTENCES else "en"
    lead = LEADS.get(language, ENGLISH_LEAD).format(seconds=seconds)
    text = f"{lead} {SENTENCES[language]}"
    response_format = fields.get("response_format", ("", b"json"))[1].decode().strip()
    if response_format == "text":
        return Reply(200, text.encode(), "text/plain; charset=utf-8")
    body: dict[str, Any] = {"text": text}
    if response_format == "verbose_json":
        task = "translate" if translating else "transcribe"
        body |= {"task": task, "language": language, "duration": round(seconds, 2)}
    return Reply(200, json.dumps(body, ensure_ascii=False).encode())
