"""Markdown → sanitised HTML for model replies.

Model output is hostile input: raw HTML is never passed through (markdown-it ``html=False``)
and the rendered HTML goes through nh3 with a strict allow-list as a second line of defence.
Rendered once when a message completes; the result is stored. While a reply streams,
chat.live_render renders its complete blocks with the same MD, CLEANER and highlighting budget.
"""

from __future__ import annotations

import io
import re
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from html import escape
from typing import Any
from urllib.parse import unquote, urlsplit

import nh3
from django.utils.translation import gettext
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.ruler import RuleOptionsType
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

BlockRule = Callable[[StateBlock, int, int, bool], bool]

__all__ = ["render_markdown", "render_reasoning"]

LANG_RE = re.compile(r"[A-Za-z0-9_+-]{1,30}")
THINK_RE = re.compile(r"\A\s*<think>(.*?)(?:</think>|\Z)", re.DOTALL)
BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")
ALIGN_RE = re.compile(r"text-align:\s*(left|center|right)")
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})

PYGMENTS_CLASSES = frozenset(c for c in STANDARD_TYPES.values() if c)
STATIC_CLASSES: dict[str, frozenset[str]] = {
    "div": frozenset({"codeblock", "math", "math-display", "completion-text"}),
    "span": frozenset({"math", "math-inline", "math-display"}) | PYGMENTS_CLASSES,
    "th": frozenset({"align-left", "align-center", "align-right"}),
    "td": frozenset({"align-left", "align-center", "align-right"}),
}

_FORMATTER = HtmlFormatter(nowrap=True)


# --------------------------------------------------------------------------- helpers


def safe_lang(info: str) -> str:
    """The first word of a fence info string if it is a safe language token, else ""."""
    word = info.strip().split(maxsplit=1)[0] if info.strip() else ""
    return word.lower() if LANG_RE.fullmatch(word) else ""


# Highlighting is bounded: the model picks a fence's language, and some Pygments lexers take
# tens of seconds on a few thousand characters (`systemd` on 2,000 spaces took a minute). Only
# these common languages (Pygments aliases) are highlighted; any other is shown plain.
HIGHLIGHTED_LANGUAGES = frozenset(
    {
        *("bash", "sh", "shell", "zsh", "console", "powershell", "ps1", "bat"),
        *("python", "py", "python3", "pycon"),
        *("javascript", "js", "jsx", "typescript", "ts", "tsx", "json"),
        *("html", "xml", "css", "scss", "less", "vue"),
        *("c", "cpp", "c++", "csharp", "cs", "objective-c", "objc"),
        *("java", "kotlin", "scala", "groovy", "go", "golang", "rust", "rs", "swift"),
        *("php", "ruby", "rb", "perl", "pl", "lua", "r", "dart", "elixir", "erlang", "haskell"),
        *("sql", "postgresql", "mysql", "graphql"),
        *("yaml", "yml", "toml", "dockerfile", "docker", "make", "makefile", "nginx"),
        *("diff", "markdown", "md", "latex", "tex", "text"),
    }
)
# Even allowed lexers go quadratic on some input (C++ on 20,000 newlines: 18 s), so a block is
# shown plain beyond these sizes (per block, and in total per message), or when lexing would
# take longer than the time budget (per message, checked between tokens).
HIGHLIGHT_BLOCK_MAX_CHARS = 8_000
HIGHLIGHT_MESSAGE_MAX_CHARS = 30_000
HIGHLIGHT_SECONDS = 0.2
_SPENT_CHARS = "_highlighted_chars"
_SPENT_SECONDS = "_highlight_seconds"


@lru_cache(maxsize=128)
def _lexer(lang: str) -> Lexer | None:
    """The lexer for an allow-listed language, else None (shown plain)."""
    if lang not in HIGHLIGHTED_LANGUAGES:
        return None
    try:
        return get_lexer_by_name(lang, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def labelled_lang(info: str) -> str:
    """The language a fence's box is labelled with (and highlighted in), else ""."""
    lang = safe_lang(info)
    return lang if lang and _lexer(lang) is not None else ""


def _codeblock(code: str, info: str, env: EnvType | None = None) -> str:
    lang = safe_lang(info)
    lexer = _lexer(lang) if lang else None
    if lexer is None:
        plain = escape(code, quote=False)
        return f'<div class="codeblock"><pre><code>{plain}</code></pre></div>\n'
    budget = env if env is not None else {}
    body = _highlight(code, lexer, budget)
    if body is None:
        body = escape(code, quote=False)  # the same markup, without highlighting
    return (
        f'<div class="codeblock" data-lang="{lang}"><pre><code class="language-{lang}">'
        f"{body}</code></pre></div>\n"
    )


def _highlight(code: str, lexer: Lexer, budget: EnvType) -> str | None:
    """Highlighted HTML, or None when the block is over the size or time budget (`budget`
    holds what the message has spent so far)."""
    chars = budget.get(_SPENT_CHARS, 0) + len(code)
    if len(code) > HIGHLIGHT_BLOCK_MAX_CHARS or chars > HIGHLIGHT_MESSAGE_MAX_CHARS:
        return None
    budget[_SPENT_CHARS] = chars
    started = time.perf_counter()
    deadline = started + HIGHLIGHT_SECONDS - budget.get(_SPENT_SECONDS, 0.0)
    tokens = []
    for token in lexer.get_tokens(code):
        tokens.append(token)
        if time.perf_counter() > deadline:
            budget[_SPENT_SECONDS] = HIGHLIGHT_SECONDS
            return None
    budget[_SPENT_SECONDS] = budget.get(_SPENT_SECONDS, 0.0) + time.perf_counter() - started
    out = io.StringIO()
    _FORMATTER.format(tokens, out)
    return out.getvalue()


def _is_media_path(url: str) -> bool:
    """Our own storage only: /media/..., no traversal, no protocol-relative trick."""
    if not url.startswith("/media/"):
        return False
    decoded = unquote(url)
    return ".." not in decoded and "\\" not in decoded and "//" not in decoded


# Our copies of the files a reply linked to (chat.reply_files): served through the
# conversation's access rule by the view named chat:attachment.
OUR_COPY_RE = re.compile(r"/c/[0-9a-f-]{32,36}/attachments/[0-9]{1,19}/(?:file|download)/")
# The env key of a reply's links to their copies (render_markdown's `links`).
LINKS_ENV = "parlor_links"


def _is_our_copy(url: str) -> bool:
    return OUR_COPY_RE.fullmatch(url) is not None


def _is_allowed_url(url: str) -> bool:
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return False
    return scheme in ALLOWED_SCHEMES


# --------------------------------------------------------------------------- markdown-it rules


def _find_closer(env: EnvType, src: str, closer: str, pos: int) -> int:
    """src.find(closer, pos), remembering misses: once a closer is missing after some
    position it is missing after every later one (thousands of unclosed openers)."""
    key = f"_math_missing_{closer}"
    missing = env.get(key)
    if missing is not None and missing[0] is src and pos >= missing[1]:
        return -1
    found = src.find(closer, pos)
    if found < 0:
        env[key] = (src, pos)
    return found


def _math_inline_brackets(state: StateInline, silent: bool) -> bool:
    r"""``\(...\)`` inline and ``\[...\]`` inside a paragraph; runs before "escape"."""
    opener = state.src[state.pos : state.pos + 2]
    if opener not in ("\\(", "\\["):
        return False
    closer = "\\)" if opener == "\\(" else "\\]"
    end = _find_closer(state.env, state.src, closer, state.pos + 2)
    if end < 0 or not state.src[state.pos + 2 : end].strip():
        return False
    if not silent:
        token = state.push("math_inline" if opener == "\\(" else "math_inline_double", "math", 0)
        token.content = state.src[state.pos + 2 : end]
        token.markup = opener
    state.pos = end + 2
    return True


def _block_math_end(state: StateBlock, start: int, end_line: int, pos: int, closer: str) -> int:
    """Line holding the first `closer` after `pos`, or -1: it must end its line, lie in this
    block, and no blank line may come before it."""
    close = _find_closer(state.env, state.src, closer, pos)
    if close < 0 or BLANK_LINE_RE.search(state.src, pos, close):
        return -1
    line = bisect_left(state.eMarks, close, start)
    if line >= end_line or state.src[close + len(closer) : state.eMarks[line]].strip():
        return -1
    return line


def _block_math_content(state: StateBlock, start: int, last: int, pos: int, closer: str) -> str:
    parts = []
    for line in range(start, last + 1):
        begin = pos if line == start else state.bMarks[line] + state.tShift[line]
        parts.append(state.src[begin : state.eMarks[line]])
    return "\n".join(parts).rstrip()[: -len(closer)]


def _math_block_rule(opener: str, closer: str) -> BlockRule:
    r"""Display maths from `opener` at the start of a line to `closer` ending a line
    (``$$...$$``, ``\[...\]``); may interrupt a paragraph."""

    def rule(state: StateBlock, start: int, end_line: int, silent: bool) -> bool:
        if state.sCount[start] - state.blkIndent >= 4:
            return False
        pos = state.bMarks[start] + state.tShift[start]
        if not state.src.startswith(opener, pos):
            return False
        pos += len(opener)
        last = _block_math_end(state, start, end_line, pos, closer)
        if last < 0:
            return False
        content = _block_math_content(state, start, last, pos, closer)
        if not content.strip():
            return False
        if not silent:
            token = state.push("math_block", "math", 0)
            token.block, token.content, token.markup = True, content, opener
            token.map = [start, last + 1]
        state.line = last + 1
        return True

    return rule


def _drop_unsafe_links(state: StateCore) -> None:
    """A link whose href we would strip becomes its bare text (no empty <a>)."""
    for block in state.tokens:
        dropping = False  # links cannot nest, so the next link_close closes this link
        for token in block.children or []:
            if token.type == "link_open":
                dropping = not _is_allowed_url(str(token.attrGet("href") or ""))
                if dropping:
                    _blank(token)
            elif token.type == "link_close" and dropping:
                dropping = False
                _blank(token)


def _point_at_copies(state: StateCore) -> None:
    """A link to a file we copied (render_markdown's `links`) points at our copy; runs after
    _drop_unsafe_links, which drops every relative link the model itself wrote."""
    links = state.env.get(LINKS_ENV) if isinstance(state.env, dict) else None
    if not links:
        return
    for block in state.tokens:
        for token in block.children or []:
            if token.type == "link_open":
                local = links.get(str(token.attrGet("href") or ""))
                if local:
                    token.attrSet("href", local)


def _blank(token: Token) -> None:
    token.type, token.tag, token.content, token.attrs = "text", "", "", {}


def _table_align_to_class(state: StateCore) -> None:
    """Tables come with style="text-align:x"; we allow no style, so use a class."""
    for token in state.tokens:
        if token.type not in ("th_open", "td_open"):
            continue
        style = str(token.attrs.pop("style", ""))
        match = ALIGN_RE.search(style)
        if match:
            token.attrSet("class", f"align-{match.group(1)}")


def _math_renderer(element: str, kind: str, after: str = "") -> Any:
    """A markdown-it renderer that leaves the TeX, escaped, for KaTeX in the browser."""

    def render(
        self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        tex = escape(tokens[idx].content.strip(), quote=False)
        return f'<{element} class="math math-{kind}">{tex}</{element}>{after}'

    return render


_render_math_inline = _math_renderer("span", "inline")
# A <div> inside a <p> would break the paragraph apart; a span with the display class keeps
# the HTML valid and KaTeX still renders it in display mode.
_render_math_inline_display = _math_renderer("span", "display")
_render_math_block = _math_renderer("div", "display", "\n")


def _render_fence(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    return _codeblock(token.content, token.info, env)


def _render_code_block(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _codeblock(tokens[idx].content, "")


def _render_image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = self.renderInlineAsText(token.children or [], options, env)
    title = str(token.attrGet("title") or "")
    title_attr = f' title="{escape(title)}"' if title else ""
    if _is_media_path(src):
        return f'<img src="{escape(src)}" alt="{escape(alt)}"{title_attr}>'
    links = env.get(LINKS_ENV) if isinstance(env, dict) else None
    if links is not None and urlsplit(src).scheme.lower() in ("http", "https"):
        return _copied_image(links.get(src), src, alt, title_attr)
    if urlsplit(src).scheme.lower() in ("http", "https"):
        return f'<a href="{escape(src)}"{title_attr}>{escape(alt or src, quote=False)}</a>'
    return escape(alt, quote=False)


def _copied_image(local: str | None, src: str, alt: str, title_attr: str) -> str:
    """A picture of a reply whose linked files were copied: our copy, nothing (shown
    elsewhere, e.g. a song's cover on its card: ""), or a note; never the remote picture."""
    if local:
        return f'<img src="{escape(local)}" alt="{escape(alt)}"{title_attr}>'
    if local == "":
        return ""
    host = urlsplit(src).hostname or "?"
    note = gettext("The image at %(host)s could not be copied.") % {"host": host}
    return f"<em>{escape(note, quote=False)}</em>"


def _build_markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    # Registered before "escape", so \( and \[ are seen before they become ( and [.
    dollarmath_plugin(
        md, allow_space=False, allow_digits=False, allow_labels=False, double_inline=True
    )
    md.inline.ruler.before("escape", "math_inline_brackets", _math_inline_brackets)
    md.block.ruler.disable("math_block")  # dollarmath's: quadratic on unclosed $$ lines
    interrupts: RuleOptionsType = {"alt": ["paragraph", "reference", "blockquote", "list"]}
    for name, opener, closer in (("dollars", "$$", "$$"), ("brackets", "\\[", "\\]")):
        rule = _math_block_rule(opener, closer)
        md.block.ruler.before("fence", f"math_block_{name}", rule, interrupts)
    md.core.ruler.push("table_align_class", _table_align_to_class)
    md.core.ruler.push("drop_unsafe_links", _drop_unsafe_links)
    md.core.ruler.push("point_at_copies", _point_at_copies)
    renderers = {
        "math_inline": _render_math_inline,
        "math_inline_double": _render_math_inline_display,
        "math_block": _render_math_block,
        "fence": _render_fence,
        "code_block": _render_code_block,
        "image": _render_image,
    }
    for name, func in renderers.items():
        md.add_render_rule(name, func)
    return md


MD = _build_markdown()


# --------------------------------------------------------------------------- sanitising


def _filter_class(element: str, value: str) -> str | None:
    allowed = STATIC_CLASSES.get(element, frozenset())
    kept = [
        c
        for c in value.split()
        if c in allowed
        or (element == "code" and c.startswith("language-") and LANG_RE.fullmatch(c[9:]))
    ]
    return " ".join(kept) or None


def _attribute_filter(element: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        return _filter_class(element, value)
    if attribute == "data-lang":
        return value if LANG_RE.fullmatch(value) else None
    if attribute == "start":
        return value if value.isdigit() and len(value) <= 9 else None
    if element == "img" and attribute == "src":
        return value if _is_media_path(value) or _is_our_copy(value) else None
    if element == "a" and attribute == "href":
        return value if _is_allowed_url(value) or _is_our_copy(value) else None
    return value


def _relative_url(url: str) -> str | None:
    return url if _is_media_path(url) or _is_our_copy(url) else None


CLEANER = nh3.Cleaner(
    tags={
        *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s"),
        *("blockquote", "ul", "ol", "li", "code", "pre", "span", "div", "a", "img"),
        *("table", "thead", "tbody", "tr", "th", "td"),
    },
    clean_content_tags={"script", "style"},
    attributes={
        "ol": {"start"},
        "a": {"href", "title"},
        "img": {"src", "alt", "title"},
        "div": {"class", "data-lang"},
        "span": {"class"},
        "code": {"class"},
        "th": {"class"},
        "td": {"class"},
    },
    attribute_filter=_attribute_filter,
    strip_comments=True,
    link_rel="noopener noreferrer nofollow",
    url_schemes=set(ALLOWED_SCHEMES),
    url_relative=_relative_url,
)


# --------------------------------------------------------------------------- public API


def _render_body(text: str, links: Mapping[str, str | None] | None = None) -> str:
    env = {LINKS_ENV: links} if links is not None else None
    return CLEANER.clean(MD.render(text, env))


def render_reasoning(text: str) -> str:
    """Reasoning (a separate field, or a leading <think> block) as a closed <details>."""
    if not text or not text.strip():
        return ""
    summary = escape(gettext("Reasoning"), quote=False)
    return (
        f'<details class="reasoning"><summary>{summary}</summary>{_render_body(text)}</details>\n'
    )


def split_think(text: str) -> tuple[str, str]:
    """(reasoning, answer) for content starting with <think>; an unclosed block is all
    reasoning (the reply stopped while thinking)."""
    match = THINK_RE.match(text or "")
    if not match:
        return "", text or ""
    return match.group(1), text[match.end() :]


def render_markdown(text: str, *, links: Mapping[str, str | None] | None = None) -> str:
    """Sanitised HTML for a model reply (see docs/chat-contract.md for the shapes).

    `links`, for a reply whose linked files were copied (chat.reply_files): each remote URL
    to our copy's URL, "" (shown elsewhere) or None (not copied). Links to copied files then
    point at the copies, and no picture is shown from elsewhere: one that was not copied
    becomes a note saying so."""
    reasoning, answer = split_think(text)
    return render_reasoning(reasoning) + _render_body(answer, links)
    return render_reasoning(reasoning) + _render_body(answer)


def render_plain(text: str) -> str:
    """Sanitised HTML for text shown as written (a completion: chat.completions): escaped, in
    a `<div class="completion-text">` that keeps its spaces and line breaks."""
    if not text:
        return ""
    return CLEANER.clean(f'<div class="completion-text">{escape(text, quote=False)}</div>')
