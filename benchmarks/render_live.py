"""Markdown CPU of live rendering: a 20 KB reply rendered while it streams vs rendered once.

Run: .venv/bin/python benchmarks/render_live.py
The reply is fed to chat.live_render.LiveRenderer in flush-sized pieces (5 word tokens, what a
40 ms flush carries at ~125 tokens/s), then finished; "once" is chat.rendering.render_markdown on
the whole text, in the same run. Goal: streamed <= 2x once. Also printed: the render and parse
work counters, and the same for a 10,000-item list (linear: no block re-rendered, parsing
bounded by the budget).
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from chat.live_render import LiveRenderer  # noqa: E402
from chat.rendering import render_markdown  # noqa: E402

CHUNK = (
    "## Part\n\nSome **bold** text, `code`, [a link](https://example.com), $a_i^2$ and a "
    "sentence long enough to look like prose that a model would write in an answer.\n\n"
    "- first point with *emphasis*\n- second point\n- third point with `code`\n\n"
    "```python\ndef f(n):\n    return n * 2\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
    "$$\na^2 + b^2 = c^2\n$$\n\n> A quoted remark\n> over two lines.\n\n"
)
TOKENS_PER_FLUSH = 5


def pieces(text: str) -> list[str]:
    tokens = re.findall(r"\S+\s*|\s+", text)
    return [
        "".join(tokens[i : i + TOKENS_PER_FLUSH]) for i in range(0, len(tokens), TOKENS_PER_FLUSH)
    ]


def streamed(parts: list[str]) -> LiveRenderer:
    renderer = LiveRenderer()
    for part in parts:
        renderer.feed(part)
    renderer.finish()
    return renderer


def cpu(fn, arg, repeat: int = 7) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(arg)
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    source = (CHUNK * 100)[:20_000]
    parts = pieces(source)
    assert "".join(streamed(parts).blocks) == render_markdown(source)
    once, live = cpu(render_markdown, source), cpu(streamed, parts)
    renderer = streamed(parts)
    print(
        f"20 KB reply in {len(parts)} flushes of {TOKENS_PER_FLUSH} tokens: "
        f"rendered once {once * 1e3:.1f} ms CPU, streamed {live * 1e3:.1f} ms CPU, "
        f"ratio {live / once:.2f}x (goal <= 2x); with the final swap's rendering "
        f"{(live + once) / once:.2f}x"
    )
    print(
        f"  {renderer.render_calls} renders (the blocks a flush completes, each block once), "
        f"{renderer.parsed_chars / len(source):.2f} chars parsed per char"
    )
    items = "".join(f"- item {i} with a few words\n" for i in range(10_000)) + "\nThe end\n"
    renderer = streamed(pieces(items))
    print(
        f"10,000-item list ({len(items) // 1024} KB): {renderer.render_calls} renders, "
        f"{renderer.parsed_chars / len(items):.2f} chars parsed per char, "
        f"streamed {cpu(streamed, pieces(items), 3) / cpu(render_markdown, items, 3):.2f}x once"
    )


if __name__ == "__main__":
    main()
