"""Live rendering of a reply while it streams: each complete markdown block rendered once.

A LiveRenderer is fed the reply's text as it grows (once per flush, not per token). It keeps the
rendered HTML of the blocks that are complete (`blocks`) and the source of the open tail
(`tail()`), shown as plain escaped text until it closes. Each block is rendered once, exactly as
`chat.rendering.render_markdown` renders it (same markdown-it, nh3 policy and bounded
highlighting, one env for the whole reply), so `"".join(blocks)` after `finish()` equals
`render_markdown(text)`.

When a block is complete (decided by parsing the open region's complete lines with the
renderer's own markdown-it; the tokens of the complete blocks are then rendered as they are):
a paragraph or table at a blank line; a heading or rule at the end of its line; a fence at its
closing fence; display maths at its closing `$$` / `\\]`; a list, block quote or indented code
only when a following block has started (a line that can no longer continue it). A paragraph
opening with `$$` or `\\[` stays open until a blank line: its closer may still come.

Cost stays linear in the reply's length: every line is looked at once, the parser runs only on
lines that could close something (a blank line, a closing fence, a line that starts a new block;
a block's kind is guessed from its first line when that is plain), only over the open region,
and within a budget of parsed characters proportional to the reply (past it, blocks wait for the
final swap). benchmarks/render_live.py measures it against rendering once.

Simplification: a reference-style link definition that arrives after the block using it
closed is not applied to that block while streaming; the final swap (the stored rendering)
corrects such rare differences. Reasoning (a leading <think> block) stays plain text until it
closes.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from html import escape
from typing import Any

from markdown_it.token import Token

from chat import rendering

# Parsing work allowed per reply: this many times its length, plus a constant.
PARSE_FACTOR = 6
PARSE_SLACK = 64 * 1024

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

_HEADING = r"\#{1,6}(?:[ \t]|$)"
_FENCE = r"(?:```|~~~)"
_MATH = r"(?:\$\$|\\\[)"
_QUOTE = r">"
_BULLET = r"[-*+][ \t]+\S"
_ORDERED_ONE = r"1[.)][ \t]+\S"
_RULE = r"(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$"
_SETEXT = r"(?:=+|-+)[ \t]*$"
_TABLE_DELIMITER = r"\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$"
# Lines (after at most three spaces) that may start a block or turn a paragraph into another.
STARTS_BLOCK = re.compile(
    "|".join(
        (_HEADING, _FENCE, _MATH, _QUOTE, _BULLET, _ORDERED_ONE, _RULE, _SETEXT, _TABLE_DELIMITER)
    )
)
# What may interrupt a list item or a block quote's lazy paragraph from column 0.
INTERRUPTS = re.compile("|".join((_HEADING, _FENCE, _MATH, _RULE)))
LIST_MARKER = re.compile(r"(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
FENCE_MARKER = re.compile(r"`{3,}(?!.*`)|~{3,}")
# A first line that needs the parser: it may be complete on its own (heading, rule, setext) or
# be a link reference definition.
NEEDS_PARSE = re.compile("|".join((_HEADING, _RULE, r"\[")))
MATH_PARAGRAPH = re.compile(r"[ ]{0,3}(?:\$\$|\\\[)")


@dataclass(frozen=True)
class _Block:
    kind: str
    start: int  # first line
    end: int  # line after the last
    token: Token
    index: int  # of its first token


def _kind(token: Token) -> str:
    kind = token.type.removesuffix("_open")
    return "list" if kind in ("bullet_list", "ordered_list") else kind


class LiveRenderer:
    """Renders a growing reply block by block; see the module docstring."""

    def __init__(self) -> None:
        self.blocks: list[str] = []  # rendered HTML of the complete blocks, in order
        self.render_calls = 0  # markdown renders done (one per block)
        self.parsed_chars = 0  # characters parsed to find complete blocks
        self.fed_chars = 0
        self._env: dict[str, Any] = {}  # one env for the reply: references, highlight budget
        self._mode = "start"  # "start" (maybe <think>), "think", "body"
        self._head: list[str] = []  # text before the body while the mode is not "body"
        self._open: list[str] = []  # pieces of the open region (after the last block)
        self._open_lines = 0  # complete lines in the open region
        self._partial: list[str] = []  # pieces of the open region's incomplete last line
        self._cr = False  # the last piece ended with "\r" (maybe half of "\r\n")
        self._kind: str | None = None  # kind of the open region's last block at the last parse
        self._fence = ""  # the opening fence markup while `_kind` is "fence"
        self._prev_blank = True
        self._finished = False

    # Feeding

    def feed(self, text: str) -> int:
        """Add text; return how many blocks it completed."""
        if self._finished:
            raise RuntimeError("feed() after finish()")
        before = len(self.blocks)
        text = self._normalise(text)
        if text:
            self._feed_normalised(text)
        return len(self.blocks) - before

    def finish(self) -> list[str]:
        """Render what is left (the tail) as the last blocks; return all blocks."""
        if self._finished:
            return self.blocks
        self._finished = True
        if self._cr:
            self._cr = False
            self._feed_normalised("\n")
        if self._mode != "body":
            head = "".join(self._head)
            self._head = []
            if self._mode == "think":  # never closed: all reasoning
                reasoning, _answer = rendering.split_think(head)
                self._append_block(rendering.render_reasoning(reasoning))
                return self.blocks
            self._open = [head]
        rest = "".join(self._open)
        self._open, self._partial = [], []
        if rest.strip():
            self._render(rest)
        return self.blocks

    def tail(self) -> str:
        """The source of the open tail (plain text while streaming)."""
        if self._mode != "body":
            return "".join(self._head)
        return "".join(self._open).lstrip("\n")

    def html(self) -> str:
        return "".join(self.blocks)

    # The open tail as it will look: a fence inside its code box from its first line on, a
    # table as a table of the rows so far; anything else as plain text until it closes.

    def view_key(self) -> tuple[int, str]:
        """Changes whenever the tail must be drawn anew (`tail_html`); between two changes
        it only grows at its end (`open_code`, `open_rows_html`)."""
        return (len(self.blocks), self._view_kind())

    def _view_kind(self) -> str:
        if self._mode != "body" or self._kind not in ("fence", "table"):
            return "text"
        first, newline, rest = self.tail().partition("\n")
        if not newline or first.startswith("    "):
            return "text"
        if self._kind == "fence":
            return "fence" if FENCE_MARKER.match(first.lstrip(" ")) else "text"
        delimiter = rest.partition("\n")[0]
        return "table" if re.match(_TABLE_DELIMITER, delimiter.strip()) else "text"

    def view_size(self) -> int:
        """How much of the open block `tail_html` shows: the code's characters (a fence) or
        the complete rows (a table)."""
        kind = self._view_kind()
        if kind == "fence":
            return len(self.open_code())
        if kind == "table":
            return len(self._table_rows())
        return 0

    def tail_html(self, dom_id: str) -> str:
        """The open tail as safe HTML; `dom_id` ("message-<pk>") names the element that later
        text is appended to (#<dom_id>-code, #<dom_id>-rows)."""
        kind = self._view_kind()
        if kind == "fence":
            info = self.tail().lstrip(" ").partition("\n")[0].lstrip("`~")
            lang = rendering.labelled_lang(info)
            attrs = f' data-lang="{lang}"' if lang else ""
            code_class = f' class="language-{lang}"' if lang else ""
            return (
                f'<div class="codeblock is-open"{attrs}><pre><code id="{dom_id}-code"'
                f"{code_class}>{escape(self.open_code(), quote=False)}</code></pre></div>"
            )
        if kind == "table":
            table = self._render_table(self._table_rows())
            if "<tbody>" not in table:
                table = table.replace("</table>", "<tbody>\n</tbody>\n</table>")
            return table.replace("<tbody>", f'<tbody id="{dom_id}-rows">', 1)
        return escape(self.tail(), quote=False)

    def open_code(self) -> str:
        """The text of the open fence so far (after its opening line)."""
        return self.tail().partition("\n")[2]

    def open_rows_html(self, start: int) -> tuple[str, int]:
        """The rendered rows of the open table from row `start` on, and the rows there are."""
        rows = self._table_rows()
        if start >= len(rows):
            return "", len(rows)
        table = self._render_table(rows[start:])
        body = table.partition("<tbody>\n")[2].partition("</tbody>")[0]
        return body, len(rows)

    def _table_rows(self) -> list[str]:
        complete = self.tail()
        complete = complete[: complete.rfind("\n") + 1]
        return complete.split("\n")[2:-1]

    def _render_table(self, rows: list[str]) -> str:
        """Header, delimiter and `rows`, rendered and cleaned as the final rendering does."""
        header, delimiter = self.tail().split("\n", 2)[:2]
        self.render_calls += 1
        source = "\n".join([header, delimiter, *rows]) + "\n"
        return rendering.CLEANER.clean(rendering.MD.render(source, {}))

    # Normalising as markdown-it does (\r\n and \r → \n, NUL → U+FFFD), across pieces

    def _normalise(self, text: str) -> str:
        if self._cr:
            text = "\r" + text
            self._cr = False
        if text.endswith("\r"):
            self._cr = True
            text = text[:-1]
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.replace("\0", "\ufffd") if "\0" in text else text

    def _feed_normalised(self, text: str) -> None:
        self.fed_chars += len(text)
        if self._mode != "body":
            text = self._feed_head(text)
        if text:
            self._feed_body(text)

    # A leading <think> block: plain until it closes, then rendered as the final rendering does

    def _feed_head(self, text: str) -> str:
        """Buffer text while the reply may start with <think>; return what belongs to the body."""
        searched = sum(map(len, self._head))
        self._head.append(text)
        if self._mode == "start":
            head = "".join(self._head)
            stripped = head.lstrip()
            if stripped.startswith(THINK_OPEN):
                self._mode = "think"
                self._head = [head]
                searched = 0
            elif THINK_OPEN.startswith(stripped):
                return ""  # could still become <think>
            else:
                self._mode, self._head = "body", []
                return head
        head = "".join(self._head)
        self._head = [head]
        close = head.find(THINK_CLOSE, max(0, searched - len(THINK_CLOSE)))
        if close < 0:
            return ""
        reasoning, answer = rendering.split_think(head)
        self._append_block(rendering.render_reasoning(reasoning))
        self._mode, self._head = "body", []
        return answer

    # The body

    def _feed_body(self, text: str) -> None:
        self._open.append(text)
        if "\n" not in text:
            self._partial.append(text)
            return
        first, *middle = text.split("\n")
        lines = ["".join(self._partial) + first, *middle]
        last = lines.pop()
        self._partial = [last] if last else []
        wants_parse = False
        for line in lines:
            wants_parse = self._could_close(line) or wants_parse
        self._open_lines += len(lines)
        if wants_parse:
            self._parse()

    def _could_close(self, line: str) -> bool:
        """Whether this new complete line may complete a block (then the parser decides)."""
        blank = not line.strip()
        prev_blank, self._prev_blank = self._prev_blank, blank
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        kind = self._kind
        if kind is None:
            return not blank and not self._guess_kind(line, stripped, indent)
        if kind == "fence":
            marker = self._fence
            return (
                indent < 4 and stripped.startswith(marker) and not stripped.strip().strip(marker[0])
            )
        if kind == "math":
            return blank or line.rstrip().endswith(("$$", "\\]"))
        if kind == "defs":
            return not blank and not stripped.startswith("[")
        if kind in ("paragraph", "table"):
            return blank or (indent < 4 and STARTS_BLOCK.match(stripped) is not None)
        if kind == "list":
            if blank:
                return False
            if prev_blank:
                return indent < 2 and not LIST_MARKER.match(stripped)
            return indent == 0 and INTERRUPTS.match(stripped) is not None
        if kind == "blockquote":
            if blank:
                return False
            return prev_blank or (indent < 4 and INTERRUPTS.match(stripped) is not None)
        if kind == "code_block":
            return not blank and indent < 4
        return not blank

    def _guess_kind(self, line: str, stripped: str, indent: int) -> bool:
        """The kind of a block from its first line, when that is plain, so that the parser
        runs when the block may close rather than when it opens; False: parse now."""
        if indent >= 4:
            self._kind = "code_block"
        elif NEEDS_PARSE.match(stripped):
            return False
        elif fence := FENCE_MARKER.match(stripped):
            self._kind, self._fence = "fence", fence.group()
        elif MATH_PARAGRAPH.match(line):
            self._kind = "math"
        elif stripped.startswith(">"):
            self._kind = "blockquote"
        elif LIST_MARKER.match(stripped):
            self._kind = "list"
        else:
            self._kind = "paragraph"
        return True

    def _parse(self) -> None:
        """Parse the open region's complete lines; render each block that is complete."""
        region = "".join(self._open)
        self._open = [region]
        complete = region[: region.rfind("\n") + 1]
        if self.parsed_chars + len(complete) > PARSE_FACTOR * self.fed_chars + PARSE_SLACK:
            return  # over budget (hostile input): the rest waits for the final swap
        self.parsed_chars += len(complete)
        # Parsed by the renderer itself: the tokens of the blocks that are complete are
        # rendered as they are, not parsed again.
        tokens = rendering.MD.parse(complete, self._env)
        blocks = [
            _Block(_kind(t), t.map[0], t.map[1], t, i)
            for i, t in enumerate(tokens)
            if t.level == 0 and t.nesting >= 0 and t.map is not None
        ]
        closed = self._closed_count(blocks, complete)
        if closed:
            cut = blocks[closed].index if closed < len(blocks) else len(tokens)
            self._render_tokens(tokens[:cut])
            region = region[_line_offsets(complete, blocks[closed - 1].end)[-1] :]
            self._open = [region]
            self._open_lines -= blocks[closed - 1].end
        remaining = region[: region.rfind("\n") + 1]
        self._set_kind(blocks[closed:], complete, remaining)

    def _closed_count(self, blocks: list[_Block], complete: str) -> int:
        lines = self._open_lines
        for i, block in enumerate(blocks):
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            if nxt is not None:
                # A paragraph opening with $$ may still become display maths (until a blank).
                gapless = block.kind == "paragraph" and nxt.start == block.end
                if gapless and _is_math_paragraph(complete, block):
                    return i
                continue
            if block.kind in ("paragraph", "table"):
                return i + 1 if block.end < lines else i
            if block.kind in ("heading", "hr", "math_block"):
                return i + 1
            if block.kind == "fence" and _fence_closed(complete, block):
                return i + 1
            return i
        return len(blocks)

    def _set_kind(self, open_blocks: list[_Block], complete: str, remaining: str) -> None:
        if not open_blocks:  # blank lines, or link reference definitions
            self._kind = "defs" if remaining.strip() else None
            return
        last = open_blocks[-1]
        self._kind = last.kind
        if last.kind == "fence":
            self._fence = last.token.markup
        elif any(b.kind == "paragraph" and _is_math_paragraph(complete, b) for b in open_blocks):
            self._kind = "math"

    def _render(self, source: str) -> None:
        self._render_tokens(rendering.MD.parse(source, self._env))

    def _render_tokens(self, tokens: list[Token]) -> None:
        self.render_calls += 1
        md = rendering.MD
        self._append_block(
            rendering.CLEANER.clean(md.renderer.render(tokens, md.options, self._env))
        )

    def _append_block(self, html: str) -> None:
        if html:
            self.blocks.append(html)


def _line_offsets(text: str, upto: int) -> list[int]:
    """Offsets of the starts of lines 0..upto in `text`."""
    offsets = [0]
    pos = 0
    for _ in range(upto):
        pos = text.find("\n", pos) + 1
        offsets.append(pos)
    return offsets


def _line(text: str, offsets_from: int, index: int) -> str:
    pos = offsets_from
    for _ in range(index):
        pos = text.find("\n", pos) + 1
    end = text.find("\n", pos)
    return text[pos : end if end >= 0 else len(text)]


def _is_math_paragraph(complete: str, block: _Block) -> bool:
    return MATH_PARAGRAPH.match(_line(complete, 0, block.start)) is not None


def _fence_closed(complete: str, block: _Block) -> bool:
    if block.end - block.start < 2:
        return False
    line = _line(complete, 0, block.end - 1)
    stripped = line.lstrip(" ")
    marker = block.token.markup
    return (
        len(line) - len(stripped) < 4
        and stripped.startswith(marker)
        and not stripped.strip().strip(marker[0])
    )


# Tabs in other processes (scale mode) get the text in `reply.snapshot` events: render its blocks
# once per process, feeding each snapshot's new text to the reply's renderer.

SNAPSHOT_RENDERERS = 32
_snapshots: OrderedDict[int, tuple[str, LiveRenderer]] = OrderedDict()


def snapshot_parts(message_id: int, content: str) -> tuple[str, str]:
    """(rendered blocks HTML, the open tail's HTML) of a streaming reply's text so far."""
    entry = _snapshots.pop(message_id, None)
    if entry is not None and content.startswith(entry[0]):
        seen, renderer = entry
        if len(content) > len(seen):
            renderer.feed(content[len(seen) :])
    else:
        renderer = LiveRenderer()
        renderer.feed(content)
    _snapshots[message_id] = (content, renderer)
    while len(_snapshots) > SNAPSHOT_RENDERERS:
        _snapshots.popitem(last=False)
    return renderer.html(), renderer.tail_html(f"message-{message_id}")
