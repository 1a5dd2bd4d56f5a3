"""Chat models that send back more than text, on the demo gateway (docs/gateway-api.md,
"Streaming"): `gpt-4-all` draws (markdown picture links to the demo's own files), a GPT
(`gpt-4-gizmo-g-demo`) answers as ordinary chat, and `suno-v3.5` makes a song the way
Suno-API's chat endpoint narrates it (one character per chunk, no role, no finish_reason: an
accepted line, 🎵 ticks while it works, then the song's markdown with cover, audio and video
links). The files are served by the demo gateway itself under FILES (no auth, like its other
result files).

On request, in the user's text: "private" adds a picture link to a private address
(http://10.0.0.1/x.png), which Parlor must never fetch; "file" adds a link to a PDF.
Other `[demo:NAME]` scenarios still apply to these models as to any other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from demo_gateway import files, replies
from demo_gateway.scenarios import (
    ChunkMaker,
    Reply,
    Step,
    dumps,
    estimate_prompt_tokens,
    last_user_text,
    usage,
)

ALL_MODEL = "gpt-4-all"
GIZMO_MODEL = "gpt-4-gizmo-g-demo"
SUNO_MODEL = "suno-v3.5"
MODELS = (ALL_MODEL, GIZMO_MODEL, SUNO_MODEL)
FILES = "/demo-all/"
PRIVATE_PICTURE = "http://10.0.0.1/x.png"
TICKS = 6
# A tick comes this many token delays after the last (Suno-API: about every 5 s).
TICK_PAUSE = 25
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def answers(model: str, scenario: str) -> bool:
    """Whether this module writes the answer: one of its models, with no failure asked for."""
    return model in MODELS and scenario == "normal"


def handles_path(path: str) -> bool:
    return path.startswith(FILES)


def _seed(text: str) -> str:
    return hashlib.sha256(replies.strip_markers(text).encode()).hexdigest()[:10]


def reply_text(model: str, user_text: str, base: str) -> str:
    """The whole answer of one of MODELS (Suno's ticks not included: see `stream_plan`)."""
    seed = _seed(user_text)
    if model == SUNO_MODEL:
        return _song(seed, base)
    if model == GIZMO_MODEL:
        return "*Demo GPT (g-demo)*\n\n" + "".join(replies.demo_tokens(user_text))
    lines = [
        "```json",
        dumps({"prompt": replies.strip_markers(user_text)[:80], "size": "1024x1024"}),
        "```",
        "",
        "Here is the picture:",
        "",
        f"![the picture]({base}{FILES}pic-{seed}.png)",
        "",
        f"And a variation: ![a variation]({base}{FILES}pic-{seed}b.png)",
    ]
    if "private" in user_text.lower():
        lines += ["", f"![from a private address]({PRIVATE_PICTURE})"]
    if "file" in user_text.lower():
        lines += ["", f"The notes are in [notes.pdf]({base}{FILES}notes-{seed}.pdf)."]
    return "\n".join(lines) + "\n"


ACCEPTED = "请求已受理，正在生成歌曲，请稍候…\n"  # noqa: RUF001


def _song(seed: str, base: str) -> str:
    return (
        f"## 演示歌曲 {seed[:4]}\n\n"
        f"模型: chirp-v3-5\n\n"
        f"![封面]({base}{FILES}cover-{seed}.png)\n\n"
        f"[点击听歌]({base}{FILES}song-{seed}.wav) · [点击观看]({base}{FILES}video-{seed})\n"
    )


@dataclass(frozen=True)
class Ask:
    """One chat request to one of MODELS, with what its answer is made of."""

    body: Any
    chat_id: str
    created: int
    model: str
    base: str  # the demo gateway's own address, for the links to its files


def completion_body(ask: Ask) -> bytes:
    body, model = ask.body, ask.model
    chat_id, created = ask.chat_id, ask.created
    text = reply_text(model, last_user_text(body), ask.base)
    if model == SUNO_MODEL:  # Suno-API's non-stream quirk: the text sits in `delta`
        choice: dict[str, Any] = {"index": 0, "delta": {"content": ACCEPTED + text}}
    else:
        message = {"role": "assistant", "content": text}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
    tokens = max(1, len(text) // 4)
    return dumps(
        {
            "id": chat_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [choice],
            "usage": usage(estimate_prompt_tokens(body), tokens),
        }
    ).encode()


def stream_plan(ask: Ask, *, delay: float) -> list[Step]:
    body, model = ask.body, ask.model
    options = body.get("stream_options") if isinstance(body, dict) else None
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    maker = ChunkMaker(
        chat_id=ask.chat_id, created=ask.created, model=model, usage_null=include_usage
    )
    text = reply_text(model, last_user_text(body), ask.base)

    def event(payload: str) -> bytes:
        return f"data: {payload}\n\n".encode()

    steps: list[Step] = []
    if model == SUNO_MODEL:
        pieces = [*ACCEPTED, *("🎵" for _ in range(TICKS)), "\n", *text]
        for piece in pieces:
            steps += [delay * (TICK_PAUSE if piece == "🎵" else 1), event(maker.bare(piece))]
        return [*steps, event("[DONE]")]
    steps.append(event(maker.delta('{"role":"assistant","content":""}')))
    for token in replies.tokenize(text):
        steps += [delay, event(maker.content(token))]
    steps.append(event(maker.delta("{}", "stop")))
    if include_usage:
        tokens = len(replies.tokenize(text))
        steps.append(event(maker.usage(usage(estimate_prompt_tokens(body), tokens))))
    return [*steps, event("[DONE]")]


def file_reply(path: str) -> Reply:
    """A file a reply linked to: pictures, the song, its video (an animated GIF), a PDF."""
    name = path.removeprefix(FILES)
    stem, _, extension = name.rpartition(".")
    if name.startswith("video-") and "." not in name:
        return Reply(200, files.clip(name), "image/gif")
    if extension == "png" and stem.startswith(("pic-", "cover-")):
        return Reply(200, files.picture(stem), "image/png")
    if extension == "wav" and stem.startswith("song-"):
        return Reply(200, files.tune(stem), "audio/wav")
    if extension == "pdf" and stem.startswith("notes-"):
        return Reply(200, PDF, "application/pdf")
    return Reply(404, b"not found", "text/plain; charset=utf-8")
