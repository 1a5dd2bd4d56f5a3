"""chat.rendering: model output is hostile input, so most of these are attacks."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from chat import rendering
from chat.rendering import render_markdown, render_reasoning

REL = 'rel="noopener noreferrer nofollow"'


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser.found


def tags(html: str) -> set[str]:
    return {tag for tag, _ in elements(html)}


def attrs(html: str) -> set[str]:
    return {name for _, found in elements(html) for name in found}


# --------------------------------------------------------------------------- raw HTML


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
        (
            '<a href="https://x.test" onclick="steal()">hi</a>',
            '&lt;a href="https://x.test" onclick="steal()"&gt;hi&lt;/a&gt;',
        ),
        ('<div id="composer">x</div>', '&lt;div id="composer"&gt;x&lt;/div&gt;'),
        ("<iframe src=https://evil></iframe>", "&lt;iframe src=https://evil&gt;&lt;/iframe&gt;"),
        ("<svg onload=alert(1)>", "&lt;svg onload=alert(1)&gt;"),
        ("<!-- comment -->", "&lt;!-- comment --&gt;"),
    ],
)
def test_raw_html_is_shown_as_text(source: str, expected: str) -> None:
    html = render_markdown(source)
    assert html == f"<p>{expected}</p>\n"
    assert elements(html) == [("p", {})]


def test_raw_html_block_and_inline_never_produce_elements() -> None:
    html = render_markdown('<div id="composer" style="x">\n<form action=/x><input></form>\n</div>')
    assert tags(html) == {"p"}
    assert "&lt;form action=/x&gt;" in html


# --------------------------------------------------------------------------- links


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html,<script>alert(1)</script>)",
        "[x](vbscript:msgbox)",
        "[x](java&#x73;cript:alert(1))",
        "[x](<javascript:alert(1)>)",
        "<javascript:alert(1)>",
    ],
)
def test_dangerous_link_schemes_never_become_links(source: str) -> None:
    html = render_markdown(source)
    assert "<a" not in html
    assert "href" not in html


@pytest.mark.parametrize("source", ["[x](//evil.test/a)", "[x](/logout)", "[x](#top)"])
def test_relative_and_protocol_relative_links_become_text(source: str) -> None:
    assert render_markdown(source) == "<p>x</p>\n"


def test_http_link_gets_rel() -> None:
    html = render_markdown('[docs](https://example.com/a?b=1&c=2 "Title")')
    assert html == (
        f'<p><a href="https://example.com/a?b=1&amp;c=2" title="Title" {REL}>docs</a></p>\n'
    )


def test_mailto_link_allowed() -> None:
    assert render_markdown("[m](mailto:a@b.test)") == (
        f'<p><a href="mailto:a@b.test" {REL}>m</a></p>\n'
    )


def test_autolink() -> None:
    assert render_markdown("<https://ok.test>") == (
        f'<p><a href="https://ok.test" {REL}>https://ok.test</a></p>\n'
    )


def test_link_title_cannot_break_out_of_attribute() -> None:
    html = render_markdown('[x](https://a.test "\\" onmouseover=alert(1) x=\\"")')
    assert "onmouseover" not in attrs(html)
    assert 'title="&quot; onmouseover=alert(1) x=&quot;"' in html


def test_bare_urls_are_not_linkified() -> None:
    assert render_markdown("see https://example.com") == "<p>see https://example.com</p>\n"


# --------------------------------------------------------------------------- images


def test_remote_image_becomes_plain_link() -> None:
    html = render_markdown("![x](https://evil.test/pixel.png)")
    assert "<img" not in html
    assert html == f'<p><a href="https://evil.test/pixel.png" {REL}>x</a></p>\n'


def test_remote_image_without_alt_links_its_url() -> None:
    html = render_markdown("![](https://evil.test/p.png)")
    assert html == f'<p><a href="https://evil.test/p.png" {REL}>https://evil.test/p.png</a></p>\n'


def test_media_image_allowed() -> None:
    html = render_markdown('![a *chart*](/media/u/a.png "T")')
    assert html == '<p><img src="/media/u/a.png" alt="a chart" title="T"></p>\n'


@pytest.mark.parametrize(
    "source",
    [
        "![x](data:image/png;base64,AAAA)",
        "![x](/media/../admin/)",
        "![x](/media/%2e%2e/admin/)",
        "![x](/media//evil.test/a.png)",
        "![x](/static/a.png)",
        "![x](ftp://host/a.png)",
    ],
)
def test_other_images_become_alt_text(source: str) -> None:
    assert render_markdown(source) == "<p>x</p>\n"


def test_javascript_image_is_not_even_an_image() -> None:
    assert render_markdown("![x](javascript:alert(1))") == "<p>![x](javascript:alert(1))</p>\n"


# --------------------------------------------------------------------------- maths


def test_dollar_inline_maths() -> None:
    assert render_markdown("$e^{i\\pi}+1=0$") == (
        '<p><span class="math math-inline">e^{i\\pi}+1=0</span></p>\n'
    )


def test_paren_inline_maths_keeps_underscores() -> None:
    assert render_markdown("so \\(a_1 + b_1\\) and \\(x*y*z\\)") == (
        '<p>so <span class="math math-inline">a_1 + b_1</span> and '
        '<span class="math math-inline">x*y*z</span></p>\n'
    )


def test_bracket_display_maths_keeps_backslashes() -> None:
    assert render_markdown("\\[ \\int_0^1 x^2\\,dx \\]") == (
        '<div class="math math-display">\\int_0^1 x^2\\,dx</div>\n'
    )


def test_bracket_display_maths_over_lines_interrupts_paragraph() -> None:
    html = render_markdown("We get:\n\\[\na_1 *b* \\\\\nc_2\n\\]\nwhere")
    assert html == (
        '<p>We get:</p>\n<div class="math math-display">a_1 *b* \\\\\nc_2</div>\n<p>where</p>\n'
    )


def test_dollar_display_maths() -> None:
    assert render_markdown("$$x_1 * y_1$$") == ('<div class="math math-display">x_1 * y_1</div>\n')


def test_dollar_display_maths_multiline_escapes_tex() -> None:
    html = render_markdown("$$\n\\begin{aligned} a &= b \\\\ c &< d \\end{aligned}\n$$")
    assert html == (
        '<div class="math math-display">'
        "\\begin{aligned} a &amp;= b \\\\ c &amp;&lt; d \\end{aligned}</div>\n"
    )


def test_display_maths_inside_paragraph_is_a_span() -> None:
    # a <div> inside <p> would break the paragraph apart
    assert render_markdown("text \\[a_1\\] and $$b_2$$ more") == (
        '<p>text <span class="math math-display">a_1</span> and '
        '<span class="math math-display">b_2</span> more</p>\n'
    )


def test_maths_cannot_inject_html() -> None:
    html = render_markdown("$<script>alert(1)</script>$ \\(<img src=x onerror=y>\\)")
    assert "<script" not in html and "<img" not in html
    assert '<span class="math math-inline">&lt;script&gt;alert(1)&lt;/script&gt;</span>' in html


@pytest.mark.parametrize(
    "source",
    [
        "costs $5 and $10",
        "a range of $5-$10",
        "between $5, $6 or $7",
        "$ 5 $ and $x $",
        "it is \\$x\\$ literally",
    ],
)
def test_prices_and_spaced_dollars_stay_text(source: str) -> None:
    assert "math" not in render_markdown(source)


def test_prices_text_exact() -> None:
    assert render_markdown("costs $5 and $10") == "<p>costs $5 and $10</p>\n"


def test_escaped_backslash_paren_is_not_maths() -> None:
    assert render_markdown("\\\\(a\\\\)") == "<p>\\(a\\)</p>\n"


def test_maths_in_code_stays_code() -> None:
    html = render_markdown("`$x_1$` and `\\(y\\)`\n\n```\n$$z$$\n```")
    assert "math" not in html
    assert "<code>$x_1$</code>" in html
    assert "<code>\\(y\\)</code>" in html
    assert '<div class="codeblock"><pre><code>$$z$$\n</code></pre></div>' in html


# --------------------------------------------------------------------------- code


def test_fenced_python_is_highlighted_in_codeblock_wrapper() -> None:
    html = render_markdown("```python\ndef f(x):\n    return '<b>'\n```")
    assert html.startswith(
        '<div class="codeblock" data-lang="python"><pre><code class="language-python">'
        '<span class="k">def</span>'
    )
    assert '<span class="nf">f</span>' in html
    assert "<span class=\"s1\">'&lt;b&gt;'</span>" in html
    assert html.endswith("</code></pre></div>\n")


def test_language_is_lowercased() -> None:
    html = render_markdown("```Python\nx = 1\n```")
    assert '<div class="codeblock" data-lang="python">' in html


def test_unknown_language_is_plain_escaped() -> None:
    assert render_markdown("```nosuchlang\n<b>x</b>\n```") == (
        '<div class="codeblock"><pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre></div>\n'
    )


def test_no_language_is_not_guessed() -> None:
    assert render_markdown("```\ndef f(): pass\n```") == (
        '<div class="codeblock"><pre><code>def f(): pass\n</code></pre></div>\n'
    )


def test_hostile_fence_info_is_dropped() -> None:
    html = render_markdown('```"><script>alert(1)</script>\nx\n```')
    assert html == '<div class="codeblock"><pre><code>x\n</code></pre></div>\n'
    assert elements(html) == [("div", {"class": "codeblock"}), ("pre", {}), ("code", {})]


def test_code_cannot_close_its_wrapper() -> None:
    html = render_markdown("```js\nlet a = '</code></pre></div><script>x</script>'\n```")
    assert "<script" not in html
    assert html.count("</code></pre></div>") == 1


def test_a_slow_lexer_the_model_picks_is_not_used() -> None:
    # Pygments' systemd lexer took about a minute on this block, stalling the process.
    code = " " * 2000
    assert rendering._lexer("systemd") is None
    html = render_markdown(f"```systemd\n{code}\n```")
    assert html == f'<div class="codeblock"><pre><code>{code}\n</code></pre></div>\n'


@pytest.mark.parametrize(
    ("lang", "code", "token"),
    [
        ("python", "def f(): pass", '<span class="k">def</span>'),
        ("js", "const a = 1;", '<span class="kd">const</span>'),
        ("bash", "echo hi", '<span class="nb">echo</span>'),
        ("sql", "SELECT 1", '<span class="k">SELECT</span>'),
        ("go", "func main() {}", '<span class="kd">func</span>'),
        ("rust", "fn main() {}", '<span class="k">fn</span>'),
        ("json", '{"a": 1}', '<span class="nt">"a"</span>'),
    ],
)
def test_common_languages_are_highlighted(lang: str, code: str, token: str) -> None:
    html = render_markdown(f"```{lang}\n{code}\n```")
    assert html.startswith(f'<div class="codeblock" data-lang="{lang}">')
    assert token in html


def _plain_block(lang: str, code: str) -> str:
    return (
        f'<div class="codeblock" data-lang="{lang}"><pre><code class="language-{lang}">'
        f"{code}</code></pre></div>\n"
    )


def test_a_block_over_the_size_budget_keeps_its_markup_without_highlighting() -> None:
    code = "x = 1\n" * (rendering.HIGHLIGHT_BLOCK_MAX_CHARS // 6 + 1)
    assert render_markdown(f"```python\n{code}```") == _plain_block("python", code)


def test_a_message_stops_highlighting_past_its_size_budget(monkeypatch) -> None:
    # The size budget alone: on a busy machine the time budget could end highlighting first.
    monkeypatch.setattr(rendering, "HIGHLIGHT_SECONDS", 60.0)
    block = "x = 1\n" * (rendering.HIGHLIGHT_BLOCK_MAX_CHARS // 6 - 1)
    fits = rendering.HIGHLIGHT_MESSAGE_MAX_CHARS // len(block)
    html = render_markdown(f"```python\n{block}```\n\n" * (fits + 1))
    assert html.count('<span class="n">x</span>') == fits * block.count("\n")
    assert html.endswith(_plain_block("python", block))


def test_a_block_over_the_time_budget_is_shown_plain(monkeypatch) -> None:
    monkeypatch.setattr(rendering, "HIGHLIGHT_SECONDS", 0.0)
    assert render_markdown("```python\nx = 1\n```") == _plain_block("python", "x = 1\n")


def test_indented_code_is_a_plain_codeblock() -> None:
    assert render_markdown("    a <b>") == (
        '<div class="codeblock"><pre><code>a &lt;b&gt;\n</code></pre></div>\n'
    )


def test_inline_code_escapes() -> None:
    assert render_markdown("`<b>&x</b>`") == "<p><code>&lt;b&gt;&amp;x&lt;/b&gt;</code></p>\n"


# --------------------------------------------------------------------------- blocks


def test_table_alignment_uses_classes_not_style() -> None:
    html = render_markdown("| a | b | c |\n|:-|:-:|---|\n| 1 | 2 | 3 |")
    assert "style" not in html
    assert '<th class="align-left">a</th>' in html
    assert '<th class="align-center">b</th>' in html
    assert "<th>c</th>" in html
    assert '<td class="align-left">1</td>' in html
    assert tags(html) == {"table", "thead", "tbody", "tr", "th", "td"}


def test_lists_headings_emphasis() -> None:
    html = render_markdown("# T\n\n3. a\n4. **b** ~~c~~ *d*\n\n> q\n\n---")
    assert "<h1>T</h1>" in html
    assert '<ol start="3">' in html
    assert "<li><strong>b</strong> <s>c</s> <em>d</em></li>" in html
    assert "<blockquote>\n<p>q</p>\n</blockquote>" in html
    assert "<hr>" in html


# --------------------------------------------------------------------------- reasoning


def test_think_block_becomes_details() -> None:
    html = render_markdown("<think>hmm *x*</think>\n\nAnswer")
    assert html == (
        '<details class="reasoning"><summary>Reasoning</summary>'
        "<p>hmm <em>x</em></p>\n</details>\n<p>Answer</p>\n"
    )


def test_unclosed_think_is_all_reasoning() -> None:
    html = render_markdown("  <think>\nstill thinking")
    assert html == (
        '<details class="reasoning"><summary>Reasoning</summary><p>still thinking</p>\n</details>\n'
    )


def test_think_later_in_text_is_just_text() -> None:
    html = render_markdown("Answer <think>x</think>")
    assert "details" not in html
    assert "&lt;think&gt;x&lt;/think&gt;" in html


def test_reasoning_is_sanitised_too() -> None:
    html = render_markdown("<think><script>x</script>[a](javascript:y)</think>ok")
    assert "<script" not in html and "href" not in html
    assert html.endswith("<p>ok</p>\n")


def test_model_cannot_forge_details() -> None:
    html = render_markdown('<details class="reasoning" open><summary>x</summary></details>')
    assert "<details" not in html


def test_render_reasoning_shape() -> None:
    assert render_reasoning("step $x_1$") == (
        '<details class="reasoning"><summary>Reasoning</summary>'
        '<p>step <span class="math math-inline">x_1</span></p>\n</details>\n'
    )
    assert render_reasoning("  ") == ""


# --------------------------------------------------------------------------- robustness


def test_no_ids_or_styles_anywhere() -> None:
    source = "# Heading\n\n$$a$$\n\n```python\nx\n```\n\n|a|\n|-:|\n|b|\n\n[^1]\n\n[^1]: note"
    html = render_markdown(source)
    assert "id" not in attrs(html)
    assert "style" not in attrs(html)


@pytest.mark.parametrize(
    "source",
    ["\\[\n" * 5000, "$$ a\n" * 5000, "\\( " * 5000, "x \\[ " * 5000, "$a " * 5000],
)
def test_unclosed_delimiters_render_as_text(source: str) -> None:
    # Speed on such input is measured in benchmarks/render_markdown.py, not asserted here.
    html = render_markdown(source)
    assert "math" not in html or source.startswith("$$")
    assert html.strip()
