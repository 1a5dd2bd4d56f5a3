"""/translate: the audio the member uploaded last in the conversation (the composer's file
input in the "Translate audio" mode), translated into English. The thread gets a pair of
messages: the member's, with a player of the original, and the assistant's English text
(model TRANSCRIPTION_MODEL, charged by the minute like a transcription)."""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy

from chat import commands
from gateway import audio as gateway_audio
from voice import services, speech

MODE = "translate"
LABEL = gettext_lazy("Translate audio")


def _read(start: services.TranslationStart) -> bytes:
    with start.attachment.file.open("rb") as handle:
        return handle.read()


async def handle(user, membership, conversation, text: str) -> str:
    start = await database_sync_to_async(services.begin_translation)(
        user=user, conversation_id=conversation.pk, text=commands.argument(text)
    )
    try:
        audio = await speech.read_audio(await asyncio.to_thread(_read, start))
    except (speech.NotAudio, OSError) as exc:
        outcome = speech.Outcome("", 0.0, None)
        error = str(exc)
    else:
        call = gateway_audio.translate
        outcome = await speech.run(
            audio, lambda data, name: call(data, name, model=start.record.model)
        )
        error = outcome.error.user_message if outcome.error is not None else ""
    answer = await database_sync_to_async(services.finish_translation)(
        start=start, text=outcome.text, seconds=outcome.seconds, error=error
    )
    html = "".join(
        render_to_string(
            "chat/messages.html#message",
            {"conversation": start.conversation, "item": item, "can_write": True},
        )
        for item in (start.user_item, answer)
    )
    return f'<div hx-swap-oob="beforeend:#thread">{html}</div>'


def register() -> None:
    commands.register("/" + MODE, handle)
    commands.register_mode(MODE, LABEL, family="audio_translation")
