"""The canned texts the demo gateway streams. Deterministic: same input, same bytes."""

from __future__ import annotations

import re
from functools import lru_cache

MARKER_RE = re.compile(r"\[demo:([A-Za-z0-9_]+(?::\d+)?)\]")
_TOKEN_RE = re.compile(r"\S+\s*|\s+")
_QUOTE_WORDS = 8
_QUOTE_CHARS = 60

_CODE_SAMPLE = """```python
def fibonacci(n: int) -> list[int]:
    \"\"\"Return the first n Fibonacci numbers.\"\"\"
    numbers, a, b = [], 0, 1
    for _ in range(n):
        numbers.append(a)
        a, b = b, a + b
    return numbers


print(fibonacci(10))
```"""

# Paragraphs of the `normal` reply; `{quote}` is the start of the user's question.
_DEMO_PARAGRAPHS = (
    "Hello! You asked: “{quote}”",
    "This reply comes from **Parlor's demo gateway**, a tiny stand-in for a real model that "
    "runs inside Parlor itself. It does not think about your question; it streams the same "
    "sample answer every time so you can see how replies are rendered while they arrive.",
    "What a reply can contain:",
    "- **Markdown**: headings, *emphasis*, lists and [links](https://commonmark.org).\n"
    "- Syntax-highlighted code blocks with a copy button.\n"
    "- Maths typeset with KaTeX, inline or on its own line.",
    "Here is a small Python function:",
    _CODE_SAMPLE,
    r"Inline maths looks like Euler's identity, $e^{i\pi} + 1 = 0$, and display maths "
    "like this:",
    r"\[ \int_0^1 x^2\,dx = \tfrac{1}{3} \]",
    "To talk to a real model, set `GATEWAY_BASE_URL` and `GATEWAY_API_KEY` (in the "
    "environment or in `.env`) to your OpenAI-compatible gateway's address and key, then "
    "restart Parlor.",
)

# Chinese text and an emoji, so that byte-level splits land inside multi-byte characters.
SPLIT_BYTES_REPLY = "你好，世界！🌍 This reply mixes 中文 and emoji ✅ to test split writes."  # noqa: RUF001

REASONING_TEXT = (
    "The user wants a demonstration. I will greet them, quote their question, "
    "and show markdown, code and maths."
)

SUNO_CHAT_REPLY = (
    "请求已受理，正在生成歌曲，请稍候…\n🎵🎵\n## 演示歌曲\n"  # noqa: RUF001
    "[点击听歌](https://example.invalid/demo.mp3)"
)

_FILLER_WORDS = ("lorem", "ipsum", "dolor", "sit", "amet")


def strip_markers(text: str) -> str:
    return MARKER_RE.sub("", text)


def _quote(user_text: str) -> str:
    words = strip_markers(user_text).split()
    if not words:
        return "(nothing yet)"
    quote = " ".join(words[:_QUOTE_WORDS])
    if len(quote) > _QUOTE_CHARS:
        quote = quote[:_QUOTE_CHARS].rstrip()
    if quote != " ".join(words):
        quote += "…"
    return quote


def demo_reply(user_text: str) -> str:
    """The markdown answer of the `normal` scenario for a user message."""
    return "\n\n".join(_DEMO_PARAGRAPHS).replace("{quote}", _quote(user_text))


def tokenize(text: str) -> list[str]:
    """Word-sized tokens with their trailing whitespace; joining them gives `text` back."""
    return _TOKEN_RE.findall(text)


def demo_tokens(user_text: str) -> list[str]:
    """The content deltas of the `normal` scenario, in order."""
    return tokenize(demo_reply(user_text))


def fixed_tokens(count: int) -> list[str]:
    return [_FILLER_WORDS[i % len(_FILLER_WORDS)] + " " for i in range(count)]


@lru_cache(maxsize=1)
def long_reply() -> str:
    """About 1500 word tokens of markdown with headings, lists and code."""
    parts = ["# A long demo answer\n\n"]
    section = 0
    while len(tokenize("".join(parts))) < 1500:
        section += 1
        parts.append(
            f"## Part {section}\n\n"
            f"This is paragraph {section} of a long reply used to measure streaming. "
            "Each part has the same shape so the size stays predictable: a paragraph, "
            "a short list and a code block, which together give the renderer some work "
            "to do while tokens keep arriving at a steady pace.\n\n"
            f"- First point of part {section}, with `inline code`.\n"
            f"- Second point of part {section}, with **bold** text.\n"
            f"- Third point of part {section}, with a formula $a_{section} = {section}^2$.\n\n"
            "```python\n"
            f"def part_{section}(x: int) -> int:\n"
            f"    return x * {section}\n"
            "```\n\n"
        )
    parts.append("That is the end of the long demo answer.")
    return "".join(parts)
