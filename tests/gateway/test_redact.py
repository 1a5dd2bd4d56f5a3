"""The one redaction of the gateway's key (gateway.redact): whole texts, JSON answers, streams
split anywhere, and log records."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest

from gateway.redact import MARKER, StreamRedactor, redact, redact_json, stream_redactor

KEY = "sk-Canary-0123456789abcdef"
BARE = KEY.removeprefix("sk-")


@pytest.fixture(autouse=True)
def key(settings):
    settings.GATEWAY_API_KEY = KEY


@pytest.mark.parametrize(
    "leaked", [KEY, KEY.upper(), KEY.lower(), KEY.swapcase(), BARE, BARE.upper(), quote(KEY)]
)
def test_any_case_with_or_without_the_prefix_is_redacted(leaked):
    text = redact(f"before {leaked} after")
    assert BARE.lower() not in text.lower()
    assert text == f"before {MARKER} after"


def test_a_short_or_missing_key_redacts_nothing(settings):
    settings.GATEWAY_API_KEY = ""
    assert redact("sk-anything at all") == "sk-anything at all"
    assert stream_redactor() is None


def test_json_answers_are_redacted_in_every_string_and_key():
    data = {"description": f"ok {KEY}", "nested": [{"url": f"https://x/{BARE}?a=1"}, 3, None],
            KEY: True, "n": 1.5}  # fmt: skip
    clean = redact_json(data)
    assert KEY.lower() not in repr(clean).lower() and BARE.lower() not in repr(clean).lower()
    assert clean["n"] == 1.5 and clean["nested"][1] == 3 and clean["nested"][2] is None
    assert clean["description"] == f"ok {MARKER}"


def _through(redactor: StreamRedactor, chunks: list[str]) -> tuple[list[str], str]:
    out = [redactor.feed(chunk) for chunk in chunks]
    return out, "".join(out) + redactor.end()


@pytest.mark.parametrize("leaked", [KEY, KEY.upper(), BARE.swapcase()])
def test_a_key_split_at_every_position_is_caught(leaked):
    text = f"Your key is {leaked}, keep it safe."
    for cut in range(len(text) + 1):
        redactor = stream_redactor()
        assert redactor is not None
        _, whole = _through(redactor, [text[:cut], text[cut:]])
        assert whole == f"Your key is {MARKER}, keep it safe.", cut


def test_a_key_in_one_character_chunks_is_caught():
    text = f"a{KEY}b{KEY.lower()}c"
    redactor = stream_redactor()
    assert redactor is not None
    out, whole = _through(redactor, list(text))
    assert whole == f"a{MARKER}b{MARKER}c"
    assert all(BARE.lower()[:6] not in piece.lower() for piece in out)


def test_ordinary_text_is_not_held_back():
    redactor = stream_redactor()
    assert redactor is not None
    assert redactor.feed("Hello world") == "Hello world"
    assert redactor.feed(" and more.") == " and more."
    # Only a tail that could start the key waits for the next chunk: as little as needed.
    assert redactor.feed("It costs") == "It cost"
    assert redactor.feed(" 5") == "s 5"
    assert redactor.feed(" sk-Can") == " "
    assert redactor.feed("dy") == "sk-Candy"
    assert redactor.end() == ""


def test_the_held_tail_comes_out_at_the_end():
    redactor = stream_redactor()
    assert redactor is not None
    assert redactor.feed("ends with sk-Ca") == "ends with "
    assert redactor.end() == "sk-Ca"


def test_log_records_never_carry_the_key():
    from gateway.redact import RedactKey

    args = (KEY, {"k": BARE})
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "token %s in %r", args, None)
    assert RedactKey().filter(record)
    assert KEY.lower() not in record.getMessage().lower()
    assert BARE.lower() not in record.getMessage().lower()
    try:
        raise ValueError(f"bad {KEY}")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    RedactKey().filter(record)
    text = logging.Formatter().format(record)
    assert BARE.lower() not in text.lower() and MARKER in text


# Where the gateway's texts come in: each redacts before anything else sees them.


async def test_a_chat_stream_never_yields_the_key_split_across_events(gateway, settings):
    from gateway.chat import stream_chat
    from gateway.types import ChatDelta, ChatEnd
    from tests.gateway.fakes import DONE, USAGE_CHUNK, chunk, respond

    settings.GATEWAY_API_KEY = KEY
    words = ["Here: ", KEY[:5], KEY[5:12].upper(), KEY[12:], " done"]
    events = [chunk({"content": w}) for w in words] + [chunk({"reasoning_content": f"r {BARE}"})]
    gateway.reply(respond(200, [*events, chunk({}, "stop"), USAGE_CHUNK, DONE]))
    items = [item async for item in stream_chat(model="m", messages=[])]
    deltas = [i for i in items if isinstance(i, ChatDelta)]
    assert isinstance(items[-1], ChatEnd)
    content = "".join(d.content for d in deltas)
    assert content == f"Here: {MARKER} done"
    assert "".join(d.reasoning for d in deltas) == f"r {MARKER}"
    assert all(BARE.lower()[:4] not in d.content.lower() for d in deltas)


async def test_a_stream_cut_off_still_delivers_its_held_tail(gateway, settings):
    import httpx

    from gateway.chat import stream_chat
    from gateway.errors import GatewayConnectionLost
    from gateway.types import ChatDelta
    from tests.gateway.fakes import chunk, respond

    settings.GATEWAY_API_KEY = KEY
    gateway.reply(respond(200, [chunk({"content": "almost sk"})], error=httpx.ReadError("x")))
    items = []
    with pytest.raises(GatewayConnectionLost):
        async for item in stream_chat(model="m", messages=[]):
            items.append(item)
    assert "".join(i.content for i in items if isinstance(i, ChatDelta)) == "almost sk"


async def test_midjourney_texts_and_urls_are_redacted(gateway, settings):
    from gateway import midjourney
    from tests.gateway.fakes import respond_json

    settings.GATEWAY_API_KEY = KEY
    gateway.reply(respond_json(200, {
        "id": "1", "status": "FAILURE", "description": f"/imagine {KEY}", "prompt": BARE,
        "failReason": f"bad key {KEY.upper()}", "imageUrl": f"https://cdn/{KEY}.png",
        "properties": {"finalPrompt": KEY},
    }))  # fmt: skip
    status = await midjourney.fetch("1")
    assert BARE.lower() not in repr(status).lower()
    assert status.fail_reason == f"bad key {MARKER}"
    upload = {"code": 1, "description": KEY, "result": ["https://u/" + BARE]}
    gateway.reply(respond_json(200, upload))
    assert await midjourney.upload(["data:x"]) == [f"https://u/{MARKER}"]


def test_image_urls_and_revised_prompts_are_redacted():
    from gateway import images

    result = images.parse_result(
        {"data": [{"url": f"https://cdn/{BARE}/a.png", "revised_prompt": f"A {KEY}"}]}
    )
    assert result.items[0].url == f"https://cdn/{MARKER}/a.png"
    assert result.items[0].revised_prompt == f"A {MARKER}"


def test_a_transcript_is_redacted():
    import httpx

    from gateway import audio

    response = httpx.Response(200, json={"text": f"said {KEY}"})
    assert audio.parse_text(response) == f"said {MARKER}"


def test_a_model_named_with_the_key_is_not_listed():
    from gateway.catalogue import model_ids

    assert model_ids({"data": [{"id": "gpt-4o"}, {"id": f"x-{BARE.upper()}"}]}) == ["gpt-4o"]


def test_nul_in_the_gateways_text_becomes_the_replacement_character():
    """PostgreSQL refuses NUL in a text column: a reply carrying one would fail to save."""
    from gateway.chat import _text_of

    delta = _text_of({"content": "a\x00b", "reasoning_content": "\x00"})
    assert delta is not None
    assert (delta.content, delta.reasoning) == ("a\ufffdb", "\ufffd")
