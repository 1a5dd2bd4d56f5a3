"""What "Read aloud" says: a reply's markdown turned into plain sentences, split into parts the
gateway accepts (docs/gateway-api.md, "Audio").

- `speakable_text`: headings, lists and emphasis lose their marks; a code block is announced
  ("A code block in Python."), never spelled; inline code is read as words; maths is "a
  formula"; a link is its text; a table is read briefly (its header and first rows).
- `split_for_speech`: parts at sentence boundaries (the CJK full stop, exclamation and
  question marks; Western .!?… followed by a space; paragraph breaks), falling back to
  clauses, then words, then a hard cut. Every part fits in `max_bytes` of UTF-8 (one-api
  refuses speech input over 4,096 BYTES, about 1,365 CJK characters) and in `max_chars`
  characters (OpenAI's 4,096).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from markdown_it.token import Token
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from chat.rendering import MD, split_think

MAX_CHARS = 4096
TABLE_ROWS_READ = 3  # the header, then this many rows; the rest are counted
# Sentence and clause marks, Western and their full-width CJK forms.
_END_MARKS = ".!?…:;\u3002\uff01\uff1f\uff1a\uff1b"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_SPACES = re.compile(r"\s+")
# Identifiers read as words: snake_case, kebab-case, dotted.paths and slashes become spaces.
_CODE_JOINERS = re.compile(r"[_\-./\\]+")
# A sentence ends after Western .!?… (and closing quotes or brackets) followed by whitespace,
# after the CJK full stop, exclamation or question mark (with or without a space), or at a
# paragraph break.
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'”’)\]]*(?:\s+|$)|[。！？]+[」』”’）]*\s*|\n\s*\n"  # noqa: RUF001
)
_CLAUSE_END = re.compile(r"[,;:—]+\s+|[，、；：]+\s*|\n")  # noqa: RUF001
_WORD_END = re.compile(r"\s+")


# --- speakable text ------------------------------------------------------------------


def speakable_text(markdown: str) -> str:
    """The reply's answer (not its reasoning) as plain text to read aloud: one paragraph per
    block, each ending with a sentence mark so the voice pauses."""
    _reasoning, answer = split_think(markdown or "")
    tokens = MD.parse(answer)
    blocks = list(_blocks(tokens))
    return "\n\n".join(block for block in blocks if block)


def _blocks(tokens: list[Token]) -> Iterator[str]:
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "inline":
            yield _sentence(_inline_text(token))
        elif token.type in ("fence", "code_block"):
            yield _announce_code(token.info)
        elif token.type == "math_block":
            yield _("A formula.")
        elif token.type == "table_open":
            end = _closing(tokens, i, "table_close")
            yield _table(tokens[i : end + 1])
            i = end
        i += 1


def _closing(tokens: list[Token], start: int, close_type: str) -> int:
    for j in range(start, len(tokens)):
        if tokens[j].type == close_type:
            return j
    return len(tokens) - 1


def _inline_text(token: Token) -> str:
    words: list[str] = []
    for child in token.children or []:
        kind = child.type
        if kind == "text":
            words.append(child.content)
        elif kind == "code_inline":
            words.append(_CODE_JOINERS.sub(" ", child.content).strip())
        elif kind in ("math_inline", "math_inline_double"):
            words.append(_("a formula"))
        elif kind == "image":
            words.append(child.content)  # the alt text
        elif kind in ("softbreak", "hardbreak"):
            words.append(" ")
    return _SPACES.sub(" ", "".join(words)).strip()


def _sentence(text: str) -> str:
    """`text` ending with a mark that makes a voice pause (a heading or a list item has none)."""
    text = text.strip()
    if not text or text[-1] in _END_MARKS or text[-1] in "\"'”’)]」』）":  # noqa: RUF001
        return text
    return text + ("。" if _CJK.match(text[-1]) else ".")


def _announce_code(info: str) -> str:
    language = _language_name(info.split()[0] if info.strip() else "")
    if language:
        return _("A code block in %(language)s.") % {"language": language}
    return _("A code block.")


def _language_name(tag: str) -> str:
    if not tag or len(tag) > 40:
        return ""
    try:
        return str(get_lexer_by_name(tag.lower()).name)
    except ClassNotFound:
        return ""


def _table(tokens: list[Token]) -> str:
    rows: list[list[str]] = []
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and rows:
            rows[-1].append(_inline_text(token))
    if not rows:
        return ""
    body = len(rows) - 1
    said = [
        ngettext("A table with %(count)d row.", "A table with %(count)d rows.", body)
        % {"count": body}
    ]
    for row in rows[: TABLE_ROWS_READ + 1]:
        said.append(_sentence(", ".join(cell for cell in row if cell)))
    rest = body - TABLE_ROWS_READ
    if rest > 0:
        said.append(
            ngettext("And %(count)d more row.", "And %(count)d more rows.", rest) % {"count": rest}
        )
    return " ".join(part for part in said if part)


# --- splitting -----------------------------------------------------------------------


def _fits(text: str, max_bytes: int, max_chars: int) -> bool:
    return len(text) <= max_chars and len(text.encode()) <= max_bytes


def _cut(text: str, pattern: re.Pattern[str]) -> list[str]:
    """`text` cut after each match of `pattern`; the pieces keep their trailing marks and
    spaces, so joining them gives `text` back."""
    pieces, start = [], 0
    for match in pattern.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _hard_cut(text: str, max_bytes: int, max_chars: int) -> Iterator[str]:
    """Pieces of `text` within the limits, cut between characters (never inside one)."""
    piece: list[str] = []
    size = 0
    for char in text:
        width = len(char.encode())
        if piece and (size + width > max_bytes or len(piece) >= max_chars):
            yield "".join(piece)
            piece, size = [], 0
        piece.append(char)
        size += width
    if piece:
        yield "".join(piece)


_LEVELS = (_SENTENCE_END, _CLAUSE_END, _WORD_END)


def _units(text: str, max_bytes: int, max_chars: int, level: int = 0) -> Iterator[str]:
    """`text` in pieces that each fit: sentences, a sentence too long in clauses, a clause too
    long in words, a word too long cut between characters."""
    if level >= len(_LEVELS):
        yield from _hard_cut(text, max_bytes, max_chars)
        return
    for piece in _cut(text, _LEVELS[level]):
        if _fits(piece, max_bytes, max_chars):
            yield piece
        else:
            yield from _units(piece, max_bytes, max_chars, level + 1)


def split_for_speech(
    text: str,
    max_bytes: int,
    *,
    max_chars: int = MAX_CHARS,
    first_max_bytes: int | None = None,
) -> list[str]:
    """`text` in ordered parts, each at most `max_bytes` of UTF-8 and `max_chars` characters,
    cut at sentence boundaries where it can be. With `first_max_bytes`, the first part is
    kept that short (so its audio comes back sooner), still ending at a boundary when one
    fits."""
    if max_bytes < 4:
        raise ValueError("max_bytes must leave room for one character")
    text = (text or "").strip()
    if not text:
        return []
    queue = list(_units(text, max_bytes, max_chars))
    parts: list[str] = []
    if first_max_bytes and first_max_bytes < max_bytes:
        first_limit = max(4, first_max_bytes)
        head = queue.pop(0)
        if not _fits(head, first_limit, max_chars):
            pieces = list(_units(head, first_limit, max_chars, 1))
            head, queue = pieces[0], pieces[1:] + queue
        while queue and _fits(head + queue[0], first_limit, max_chars):
            head += queue.pop(0)
        parts.append(head)
    current = ""
    for unit in queue:
        if _fits(current + unit, max_bytes, max_chars):
            current += unit
        else:
            parts.append(current)
            current = unit
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]
