"""Summarise a `py-spy record --idle --threads --format raw` profile of Parlor by thread and cost.

Each line of the raw format is `thread (tid): Name;frame;frame;... count`. Every stack goes into
the first bucket below whose marker appears in it (so order matters: idle first, then the
narrow buckets before the broad ones), and the table shows, per thread, the share of that
thread's samples in each bucket. Startup-of-a-reply buckets come before per-frame ones.

    python benchmarks/spy_summary.py profile.txt
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

# (bucket, markers): a stack belongs to the first bucket with a marker in it.
BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("idle (waiting)", ("EpollSelector.select", "_worker (concurrent/futures/thread.py:81)")),
    # Work beside the replies: the in-process embedder, and imports (a failing import is not
    # cached, so one made per call walks sys.path every time).
    ("background: embedding worker", ("chat/embedding_worker.py",)),
    ("imports (per call)", ("_find_and_load",)),
    ("start: access check, session", ("get_for_user", "session_is_current", "visible_to")),
    (
        "start: budget reservation",
        ("reserve (usage/", "price_for (usage/", "_budget (usage/", "_replies (usage/"),
    ),
    # Starts taken together (chat.starts), and one taken alone within their batch.
    ("start: begin_replies transaction", ("chat/starts.py", "begin_reply (chat/services.py")),
    ("end: settle/refund (usage)", ("usage/services.py",)),
    ("end: finish_replies transaction", ("finish_replies (chat/services.py",)),
    # A new conversation's first reply asks the model for a title: a request of its own.
    ("end: title request", ("chat/titles.py",)),
    ("end: stored HTML (markdown)", ("stored_html",)),
    # The request up to its response's headers (the pool, connecting, closing sockets).
    (
        "start: upstream connect",
        ("AsyncClient.send (httpx", "staggered_race", "_connect_sock", "_call_connection_lost"),
    ),
    # After [DONE]: the body's end, and the response's close (its connection back to the pool).
    ("end: upstream body end, close", ("_read_to_end (gateway/chat.py", "Response.aclose (httpx")),
    ("end: final frame, log, announce", ("_send_final", "Generation._log", "_announce_finished")),
    ("start: consumer, templates", ("ChatConsumer.receive", "_start_reply", "render_message")),
    ("start: websocket connect", ("ProtocolTypeRouter", "websocket_connect")),
    ("frame: SSE read and parse", ("read_stream (gateway/chat.py", "gateway/sse.py")),
    ("frame: escaping", ("escape",)),
    # The frame's way down a socket: channels' send, daphne's reply, autobahn's framing and
    # Twisted's transport.write (inline, under the send).
    ("frame: websocket send (daphne, autobahn)", ("handle_reply (daphne", "sendMessage")),
    (
        "frame: flush, frames, consumer send",
        (
            "Generation._flush",
            "Generation._send",
            "Generation._deliver",
            "_send_frame",
            "chat/frames.py",
            "live_render",
            "Generation._append",
            "_schedule_flush",
        ),
    ),
    ("frame: timers", ("call_later", "TimerHandle")),
    ("frame: channel layer", ("InMemoryChannelLayer", "RedisChannelLayer", "group_send")),
    # Twisted's I/O callbacks (the websocket sockets daphne writes and reads) and the
    # selector (un)registrations of every write that did not complete at once.
    ("frame: daphne/Twisted socket I/O", ("callWithLogger (twisted", "_PollLikeSelector")),
    ("frame: upstream socket reads", ("_read_ready (asyncio",)),
    ("database (other)", ("django/db/",)),
)
OTHER = "other"


def bucket(stack: str) -> str:
    for name, markers in BUCKETS:
        if any(marker in stack for marker in markers):
            return name
    return OTHER


def summarise(path: Path) -> dict[str, Counter[str]]:
    by_thread: dict[str, Counter[str]] = defaultdict(Counter)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        thread = re.sub(r"^thread \(\d+\): ", "", stack.split(";", 1)[0])
        thread = re.sub(r"_\d+$", "_n", thread)  # asyncio_0, asyncio_1...: one row
        by_thread[thread][bucket(stack)] += int(count)
    return by_thread


def format_summary(by_thread: dict[str, Counter[str]]) -> str:
    lines = []
    for thread, counts in sorted(by_thread.items(), key=lambda kv: -kv[1].total()):
        total = counts.total()
        busy = total - counts["idle (waiting)"]
        lines.append(f"\n{thread}: {total} samples, {busy} busy ({100 * busy / total:.0f}%)")
        for name, n in counts.most_common():
            if name != "idle (waiting)":
                lines.append(f"  {name:<42}{n:>7}{100 * n / total:>7.1f}%")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    print(format_summary(summarise(parser.parse_args().profile.resolve())))
