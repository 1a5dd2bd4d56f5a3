"""chat.live_render: complete blocks rendered once while a reply streams, as at the end."""

from __future__ import annotations

import re

import pytest

from chat import live_render, rendering
from chat.live_render import LiveRenderer
from chat.rendering import render_markdown

REPLY = """Intro paragraph with **bold**, `code` and a [link](https://example.com).

Here is a list:
- one
- two
  continued

1. first
2. second

| a | b |
|:--|--:|
| 1 | 2 |
| 3 | <b>4</b> |

```python
def f(n):
    return n * 2
```

$$
a^2 + b^2 = c^2
$$

> quoted text
> more

## Heading

Inline $x_i$ maths, \\( y \\) and <script>alert(1)</script> stay safe.

---

Last paragraph
over two lines."""


def _tokens(text: str) -> list[str]:
    """Word-sized pieces, as a gateway sends them."""
    return re.findall(r"\S+\s*|\s+", text)


def _stream(text: str, pieces: list[str] | None = None) -> tuple[LiveRenderer, list[list[str]]]:
    """Feed `text` piece by piece; return the renderer and its blocks after each piece."""
    renderer = LiveRenderer()
    seen = []
    for piece in pieces if pieces is not None else _tokens(text):
        renderer.feed(piece)
        seen.append(list(renderer.blocks))
    return renderer, seen


@pytest.mark.parametrize("split", range(len(REPLY) + 1))
def test_blocks_then_the_tail_are_the_final_rendering_at_every_split(split: int) -> None:
    renderer = LiveRenderer()
    renderer.feed(REPLY[:split])
    early = list(renderer.blocks)
    renderer.feed(REPLY[split:])
    blocks = renderer.finish()

    assert "".join(blocks) == render_markdown(REPLY)
    assert blocks[: len(early)] == early  # a block, once sent, never changes
    assert renderer.render_calls == len(blocks)  # each block rendered once


def test_each_kind_of_block_closes_while_streaming() -> None:
    renderer, seen = _stream(REPLY)
    assert renderer.tail() == "Last paragraph\nover two lines."
    final = renderer.finish()

    # Before the end every block but the last was already rendered, exactly as at the end.
    assert seen[-1] == final[:-1]
    assert "".join(seen[-1]) == render_markdown(REPLY.rsplit("\n\n", 1)[0])
    tags = re.findall(
        r"^<(p|ul|ol|table|div class=\"\w+|blockquote|h2|hr)", "".join(seen[-1]), re.M
    )
    blocks = ["p", "p", "ul", "ol", "table", 'div class="codeblock', 'div class="math']
    assert tags == [*blocks, "blockquote", "p", "h2", "p", "hr"]  # the quote holds a <p>
    assert "<script>" not in "".join(final) and "&lt;script&gt;" in "".join(final)


def test_a_paragraph_closes_at_a_blank_line_and_a_table_is_a_table_at_once() -> None:
    renderer = LiveRenderer()
    assert renderer.feed("Some text") == 0
    assert renderer.feed("\n") == 0
    assert renderer.feed("\n") == 1
    assert renderer.blocks == ["<p>Some text</p>\n"]
    renderer.feed("| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert len(renderer.blocks) == 1  # another row may come
    renderer.feed("\n")
    assert renderer.blocks[1].startswith("<table>")
    assert renderer.tail() == ""


def test_a_list_closes_only_when_a_following_line_cannot_continue_it() -> None:
    renderer = LiveRenderer()
    renderer.feed("- a\n- b\n\n")
    assert renderer.blocks == []  # a blank line: another item may follow
    renderer.feed("- c\n\n  indented: still item c\n\n")
    assert renderer.blocks == []
    renderer.feed("After")
    assert renderer.blocks == []  # the line is not complete yet
    renderer.feed("\n")
    assert len(renderer.blocks) == 1 and renderer.blocks[0].startswith("<ul>")
    assert renderer.tail() == "After\n"


def test_a_fence_closes_at_its_closing_fence_and_maths_at_its_closing_dollars() -> None:
    renderer = LiveRenderer()
    renderer.feed("```python\nx = 1\n\n\ny = 2\n``")
    assert renderer.blocks == []  # blank lines inside a fence do not close it
    renderer.feed("`\n")
    assert renderer.blocks[0].startswith('<div class="codeblock" data-lang="python">')
    renderer.feed("$$\na\n")
    assert len(renderer.blocks) == 1
    renderer.feed("$$\n")
    assert renderer.blocks[1] == '<div class="math math-display">a</div>\n'


def test_a_paragraph_opening_with_dollars_waits_for_its_closer() -> None:
    renderer = LiveRenderer()
    renderer.feed("$$\nx\n# not yet a heading of its own\n")
    assert renderer.blocks == []
    renderer.feed("$$\n\nAfter\n\n")
    assert renderer.html() == render_markdown("$$\nx\n# not yet a heading of its own\n$$\n\nAfter")


@pytest.mark.parametrize(
    "hostile",
    [
        "```python\nnever closed\n\n\nstill code",
        "$$\nnever closed\n\nparagraph",
        "<div onclick=x>raw</div>\n\n<script>alert(1)</script>\n\ntext",
        "[x]: javascript:alert(1)\n\n[x]\n\n",
        "<think>\nthinking\n</think>\n\nThe **answer**\n\nmore",
        "<think>\nnever closed",
        "a\r\nb\r\n\r\nc\rd",
        "\0 nul\n\n",
    ],
)
def test_hostile_input_renders_as_the_final_rendering(hostile: str) -> None:
    for size in (1, 2, 3, 7):
        pieces = [hostile[i : i + size] for i in range(0, len(hostile), size)]
        renderer, _seen = _stream(hostile, pieces)
        assert "".join(renderer.finish()) == render_markdown(hostile)


def test_an_unclosed_fence_stays_plain_text() -> None:
    renderer, _seen = _stream("Intro\n\n```\ncode <b>\n\nmore\n")
    assert renderer.blocks == ["<p>Intro</p>\n"]
    assert renderer.tail() == "```\ncode <b>\n\nmore\n"


def test_reasoning_in_a_think_block_stays_plain_until_it_closes() -> None:
    renderer = LiveRenderer()
    renderer.feed("<thi")
    renderer.feed("nk>\nweighing it")
    assert renderer.blocks == [] and renderer.tail() == "<think>\nweighing it"
    renderer.feed("\n</think>\nAnswer\n\n")
    assert renderer.blocks[0].startswith('<details class="reasoning">')
    assert renderer.blocks[1] == "<p>Answer</p>\n"


def test_ten_thousand_list_items_stay_linear() -> None:
    text = "".join(f"- item {i}\n" for i in range(10_000)) + "\nThe end\n"
    renderer, _seen = _stream(text)

    assert renderer.render_calls == 1  # the list, once, when the paragraph after it began
    assert renderer.parsed_chars <= 2 * len(text)
    loose = "".join(f"- item {i}\n\n" for i in range(10_000)) + "The end\n"
    renderer, _seen = _stream(loose)
    assert renderer.render_calls == 1 and renderer.parsed_chars <= 2 * len(loose)


def test_many_paragraphs_are_each_rendered_and_parsed_once() -> None:
    text = "".join(f"Paragraph {i} with some words in it.\n\n" for i in range(2_000))
    renderer, _seen = _stream(text)

    assert renderer.render_calls == 2_000
    assert renderer.parsed_chars <= 2 * len(text)


def test_parsing_stops_past_its_budget(monkeypatch) -> None:
    # Each line ends like a closer of display maths (so each asks for a parse), none closes it:
    # without the budget, parsing would grow with the square of the length.
    text = "$$\n" + "".join(f"a{i} \\]\n" for i in range(3_000))
    renderer, _seen = _stream(text)
    assert renderer.parsed_chars <= live_render.PARSE_FACTOR * len(text) + live_render.PARSE_SLACK
    assert renderer.parsed_chars > len(text)  # it did parse until the budget ran out

    monkeypatch.setattr(live_render, "PARSE_SLACK", 0)
    monkeypatch.setattr(live_render, "PARSE_FACTOR", 1)
    renderer, _seen = _stream(text)
    assert 0 < renderer.parsed_chars <= len(text)
    assert "".join(renderer.finish()) == render_markdown(text)


def test_highlighting_keeps_its_per_message_budget_across_blocks(monkeypatch) -> None:
    monkeypatch.setattr(rendering, "HIGHLIGHT_SECONDS", 60.0)  # the size budget alone
    block = "x = 1\n" * (rendering.HIGHLIGHT_BLOCK_MAX_CHARS // 6 - 1)
    text = f"```python\n{block}```\n\n" * 5
    renderer, _seen = _stream(text, [text[i : i + 500] for i in range(0, len(text), 500)])
    html = "".join(renderer.finish())
    assert html == render_markdown(text)
    assert html.count('<span class="n">x</span>') < 5 * block.count("\n")  # some shown plain


def test_snapshots_render_each_block_once_per_process() -> None:
    first = "Intro\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nMore"
    blocks, tail = live_render.snapshot_parts(901, first)
    assert "<table>" in blocks and tail == "More"
    blocks_again, tail = live_render.snapshot_parts(901, first + " text\n\nDone")
    renderer = live_render._snapshots[901][1]

    assert blocks_again == blocks + "<p>More text</p>\n" and tail == "Done"
    assert renderer.render_calls == 2  # the blocks the first snapshot closed, then one more
    other, _tail = live_render.snapshot_parts(901, "Replaced\n\n")  # not a continuation
    assert other == "<p>Replaced</p>\n"


FENCED = "Intro\n\n```python\ndef f(n):\n    return n * 2\n```\n\nAfter"
TABLED = "Intro\n\n| a | b |\n|:--|--:|\n| 1 | **2** |\n| 3 | <b>4</b> |\n| 5 | 6 |\n\nAfter"


def test_an_open_fence_is_drawn_in_its_code_box_from_its_first_line() -> None:
    renderer = LiveRenderer()
    renderer.feed("Intro\n\n```pyth")
    assert renderer.view_key() == (1, "text")  # the opening line is not complete yet
    renderer.feed("on\ndef f(n):\n    return n <")
    assert renderer.view_key() == (1, "fence")
    html = renderer.tail_html("message-7")
    assert html.startswith('<div class="codeblock is-open" data-lang="python"><pre>')
    assert '<code id="message-7-code" class="language-python">' in html
    assert "def f(n):\n    return n &lt;</code>" in html  # escaped, not highlighted yet
    assert renderer.open_code() == "def f(n):\n    return n <"

    renderer.feed(" 2\n```\n")
    final = render_markdown("```python\ndef f(n):\n    return n < 2\n```\n")
    assert renderer.blocks[-1] == final  # highlighted once it closes
    assert renderer.view_key() == (2, "text")


def test_an_open_fence_of_a_language_not_highlighted_has_no_label_as_at_the_end() -> None:
    renderer = LiveRenderer()
    renderer.feed("```brainfuck\n+++")
    assert renderer.view_key()[1] == "fence"
    assert "data-lang" not in renderer.tail_html("message-1")
    assert "data-lang" not in render_markdown("```brainfuck\n+++\n```")


def test_an_open_table_is_a_table_of_its_rows_and_grows_row_by_row() -> None:
    renderer = LiveRenderer()
    renderer.feed("Intro\n\n| a | b |\n|:--|")
    assert renderer.view_key() == (1, "text")  # the delimiter row is not complete yet
    renderer.feed("--:|\n| 1 | **2** |\n| 3 | <b>4</b")
    assert renderer.view_key() == (1, "table")
    html = renderer.tail_html("message-7")
    assert '<tbody id="message-7-rows">' in html and "<strong>2</strong>" in html
    assert "<b>" not in html and "4" not in html  # an incomplete row waits for its line end
    assert renderer.view_size() == 1

    renderer.feed("> |\n| 5 | 6 |\n")
    rows, count = renderer.open_rows_html(1)
    assert count == 3 and rows.count("<tr>") == 2 and '<td class="align-right">6</td>' in rows
    # The rows as they arrived are the final table's rows: nothing moves at the end.
    shown = html.replace('<tbody id="message-7-rows">', "<tbody>").replace(
        "</tbody>", rows + "</tbody>"
    )
    renderer.feed("\nAfter")
    table = renderer.blocks[-1]
    assert shown == table == render_markdown(TABLED.split("\n\n")[1] + "\n")


@pytest.mark.parametrize("text", [FENCED, TABLED])
def test_drawing_the_open_block_changes_nothing_at_the_end(text: str) -> None:
    renderer, _seen = _stream(text)
    assert "".join(renderer.finish()) == render_markdown(text)


def test_an_indented_or_nested_fence_stays_text() -> None:
    renderer = LiveRenderer()
    renderer.feed("- item\n\n  ```python\n  x = 1\n")
    assert renderer.view_key()[1] == "text"
