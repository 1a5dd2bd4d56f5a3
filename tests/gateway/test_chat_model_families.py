"""The chat route's model families that answer differently (docs/gateway-api.md, "Streaming"):
a Suno chat model's non-stream answer carries its text in `delta`, and Suno's chat models are
offered for chat although other `suno*` / `chirp*` ids are only for billing or tasks."""

from __future__ import annotations

from gateway.catalogue import is_chat_model
from gateway.chat import stream_chat
from gateway.types import ChatDelta, ChatEnd
from tests.gateway.fakes import respond_json


async def _items(**kwargs):
    messages = [{"role": "user", "content": "a song about the sea"}]
    return [item async for item in stream_chat(model="suno-v3.5", messages=messages)]


async def test_a_non_stream_suno_answer_is_read_from_its_delta(gateway):
    body = {"id": "x", "choices": [{"index": 0, "delta": {"content": "## Song\n[listen](u)"}}]}
    gateway.reply(respond_json(200, body))
    items = await _items()
    assert items[0] == ChatDelta(content="## Song\n[listen](u)")
    assert isinstance(items[-1], ChatEnd)


async def test_an_empty_message_does_not_hide_the_text_in_delta(gateway):
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": ""},
        "delta": {"content": "A"},
    }
    gateway.reply(respond_json(200, {"id": "x", "choices": [choice]}))
    assert (await _items())[0] == ChatDelta(content="A")


async def test_an_empty_delta_does_not_hide_the_text_in_message(gateway):
    choice = {"index": 0, "delta": {"content": ""}, "message": {"content": "B"}}
    gateway.reply(respond_json(200, {"id": "x", "choices": [choice]}))
    assert (await _items())[0] == ChatDelta(content="B")


def test_suno_chat_models_are_chat_models_but_billing_ids_are_not():
    assert [m for m in ("suno-v3", "suno-v3.5", "chirp-v3-5", "chirp-v4") if is_chat_model(m)] == [
        "suno-v3",
        "suno-v3.5",
        "chirp-v3-5",
        "chirp-v4",
    ]
    assert not any(is_chat_model(m) for m in ("suno_music", "suno_lyrics", "suno-lyrics"))
