"""Markdown rendering cost, as ratios against plain markdown-it-py in the same run.

Run: .venv/bin/python benchmarks/render_markdown.py
Reports how much Parlor's renderer (maths rules, pygments, nh3) adds on a dense 20 KB reply,
and that hostile input with thousands of unclosed maths delimiters stays linear: its time per
KB is compared with the same input at a tenth of the size.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from markdown_it import MarkdownIt  # noqa: E402

from chat.rendering import render_markdown  # noqa: E402

CHUNK = (
    "## Part\n\nSome **bold** text, `code`, [a link](https://example.com), $a_i^2$.\n\n"
    "```python\ndef f(n):\n    return n * 2\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
)


def best_of(fn, arg, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    source = (CHUNK * 200)[:20_000]
    plain = MarkdownIt("commonmark").enable("table").render
    render_markdown(source)
    base, ours = best_of(plain, source), best_of(render_markdown, source)
    print(
        f"20 KB reply: markdown-it {base * 1e3:.1f} ms, Parlor {ours * 1e3:.1f} ms, "
        f"ratio {ours / base:.2f}x"
    )
    for pattern in ("\\[\n", "$$ a\n", "\\( ", "x \\[ ", "$a "):
        small, large = pattern * 500, pattern * 5000
        t_small, t_large = best_of(render_markdown, small, 3), best_of(render_markdown, large, 3)
        print(
            f"unclosed {pattern.strip()!r:8} x5000: {t_large * 1e3:7.1f} ms, "
            f"growth for 10x input {t_large / t_small:5.1f}x (linear = 10)"
        )


if __name__ == "__main__":
    main()
