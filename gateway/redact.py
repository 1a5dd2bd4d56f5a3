"""The one redaction of Parlor's gateway key from what the gateway sends back.

A gateway may repeat the key it was given: in an error, a chat reply, a task's description,
a failure reason, a result URL. Nothing the gateway sends reaches a page, a database row or a
log line before passing through here (docs/redaction.md). The key is matched with or without
its "sk-" prefix, in any letter case, and URL-encoded, and replaced by MARKER.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

from django.conf import settings

MARKER = "[redacted]"
# Shorter keys would match ordinary words: a key this short is not worth hiding anyway.
MIN_KEY_CHARS = 8


def _key() -> str:
    key = getattr(settings, "GATEWAY_API_KEY", "") or ""
    return key if len(key) >= MIN_KEY_CHARS else ""


@lru_cache(maxsize=4)
def _forms(key: str) -> tuple[str, ...]:
    """The texts that give the key away, longest first (so the whole key goes before its bare
    part could leave "sk-" behind)."""
    forms = {key}
    bare = key.removeprefix("sk-")
    if len(bare) >= MIN_KEY_CHARS:
        forms.add(bare)
    forms |= {quote(form, safe="") for form in forms} | {quote_plus(form) for form in forms}
    return tuple(sorted(forms, key=len, reverse=True))


@lru_cache(maxsize=4)
def _pattern(key: str) -> re.Pattern[str]:
    return re.compile("|".join(map(re.escape, _forms(key))), re.IGNORECASE)


@lru_cache(maxsize=4)
def _start_pattern(key: str) -> re.Pattern[str]:
    """Matches, up to the end of the text, a non-empty beginning of one of the forms (in any
    case): `c1(?:c2(?:c3)?)?\\Z` for each. Searched from the left, the first match is the
    longest tail that could still become the key."""

    def nested(form: str) -> str:
        pattern = ""
        for char in reversed(form[1:]):
            pattern = f"(?:{re.escape(char)}{pattern})?"
        return re.escape(form[0]) + pattern

    return re.compile(f"(?:{'|'.join(nested(form) for form in _forms(key))})\\Z", re.IGNORECASE)


def without_nul(text: str) -> str:
    """`text` with NUL characters as U+FFFD (what markdown shows for them): a PostgreSQL text
    column refuses NUL, and the gateway's text is stored."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def redact(text: str) -> str:
    """`text` without the key."""
    key = _key()
    if not text or not key:
        return text
    return _pattern(key).sub(MARKER, text)


def redact_json(data: Any) -> Any:
    """A parsed JSON answer with the key removed from every string in it, keys included."""
    if not _key():
        return data
    return _redact_value(data)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redact_value(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_value(item) for item in value]
    return value


class StreamRedactor:
    """Redacts a text that arrives in pieces, where the key may be split between two pieces.

    `feed` returns what can be shown now: everything except a tail that could be the start of
    the key, held until the next piece says whether it is. Ordinary text comes out at once
    (a tail is held only while it matches the key's beginning). `end` returns the held tail."""

    __slots__ = ("_held", "_pattern", "_start", "_window")

    def __init__(self, key: str) -> None:
        self._pattern = _pattern(key)
        self._start = _start_pattern(key)
        self._window = max(map(len, _forms(key))) - 1
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece if self._held else piece
        if not text:
            return ""
        text = self._pattern.sub(MARKER, text)
        tail = self._start.search(text, max(0, len(text) - self._window))
        if tail is None:
            self._held = ""
            return text
        self._held = text[tail.start() :]
        return text[: tail.start()]

    def end(self) -> str:
        held, self._held = self._held, ""
        return held


def stream_redactor() -> StreamRedactor | None:
    """A StreamRedactor for the configured key; None when there is no key to hide."""
    key = _key()
    return StreamRedactor(key) if key else None


class RedactKey(logging.Filter):
    """A logging filter (installed on the handlers in settings.LOGGING) that takes the key out
    of a record's message and traceback. It rewrites the record itself, so the handlers after
    it (and captures such as pytest's) see it redacted too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _key():
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
