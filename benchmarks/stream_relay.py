"""Streaming benchmark: Parlor's websocket token relay against the floor relay, in bursts.

For each token count T and concurrency N it runs phases one after the other against the same
demo gateway (its own process, so its CPU is not counted): N plain HTTP streams straight to the
gateway (the gateway's own TTFT), N websocket clients through `floor_relay.py` (plain asyncio,
everything by hand: the physical floor), optionally `minimal_relay.py` (websockets + httpx), and
N websocket clients through Parlor (`manage.py serve`, daphne). By default every send of a round
leaves at one instant (`--ramp 0`). Two token counts separate the CPU per reply (intercept) from
the CPU per token and per frame (slope). It prints a table per round, the CPU split, and met /
not met per goal (those of the token-path performance round, see benchmarks/README.md), and
writes everything to benchmarks/results/latest.json. Nothing is asserted.

    python benchmarks/stream_relay.py                 # bursts: 10, 50, 150 streams x 20, 200 tokens
    python benchmarks/stream_relay.py --ramp 1        # the same, sends spread over 1 s
    python benchmarks/stream_relay.py --quick         # 10 streams x 20 tokens, a smoke run
    python benchmarks/stream_relay.py --streams 50 --tokens 100
    PYTHONPATH=DIR python benchmarks/stream_relay.py --relays floor,parlor,parlor-uvicorn
                                                      # also Parlor under uvicorn (in DIR)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "latest.json"
API_KEY = "sk-demo"
MODEL = "gpt-4o-mini"
# The token-path round's goals, as ratios to the floor relay in the same run (burst mode).
TTFT_SMALL_STREAMS, TTFT_SMALL_ADDED_MS = 10, 15.0  # TTFT p50 at 10 <= floor + 15 ms
TTFT_LARGE_STREAMS, TTFT_LARGE_RATIO = 150, 3.0  # TTFT p50 at 150 <= 3x floor
CPU_STREAMS, CPU_RATIO = (10, 150), 2.0  # CPU per token <= 2x floor at 10 and 150
RSS_STREAMS, RSS_LIMIT_MB = 150, 150.0  # peak RSS <= 150 MB at 150
GAP_ADDED_MS = 20.0  # inter-token gap p99 <= STREAM_FLUSH_MS + 20 ms at every N
# Opt-in: Parlor's same ASGI app under uvicorn instead of daphne (a measurement only), when
# uvicorn can be imported (installed, or on PYTHONPATH).
UVICORN_RELAY = "parlor-uvicorn"
RELAYS = ("floor", "minimal", "parlor", UVICORN_RELAY)
STARTUP_TIMEOUT = 60.0
SCALE_DATABASE = "bench_b1"  # scale mode's own PostgreSQL database (dropped and created each run)
SCALE_REDIS_DB = 11  # and its own Redis database number (flushed each run)
CONNECT_CONCURRENCY = 25
TERMINAL = frozenset({"complete", "stopped", "interrupted", "failed"})
_TAG = re.compile(r"<([a-zA-Z][\w-]*)(\s[^>]*)?>")
_ATTR = re.compile(r'([\w:-]+)="([^"]*)"')
_MARKUP = re.compile(r"<[^>]*>")


# --- results ------------------------------------------------------------------------


@dataclass
class StreamResult:
    """What one client saw of one reply."""

    text: str = ""
    ttft: float | None = None  # seconds from send to the first token
    gaps: list[float] = field(default_factory=list)  # seconds between token frames
    frames: int = 0  # frames that carried tokens
    done: bool = False
    error: str | None = None

    @property
    def tokens(self) -> int:
        return len(self.text.split())


@dataclass
class Phase:
    """One relay (or the gateway itself) at one concurrency."""

    name: str
    streams: list[StreamResult]
    wall: float
    cpu_seconds: float | None = None
    rss_peak_kb: int | None = None

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.streams)

    def complete(self, expected: str) -> int:
        return sum(s.done and s.error is None and s.text == expected for s in self.streams)

    def ttfts(self) -> list[float]:
        return [s.ttft for s in self.streams if s.ttft is not None]

    def gaps(self) -> list[float]:
        return [gap for s in self.streams for gap in s.gaps]

    def cpu_us_per_token(self) -> float | None:
        if self.cpu_seconds is None or not self.tokens:
            return None
        return self.cpu_seconds * 1e6 / self.tokens


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Linear-interpolated percentile (pct in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def expected_text(tokens: int) -> str:
    """The reply of the demo gateway's `fixed_tokens:<tokens>` scenario."""
    _ensure_root_on_path()
    from demo_gateway.replies import fixed_tokens

    return "".join(fixed_tokens(tokens))


def _ensure_root_on_path() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


# --- the relay's side of the wire ----------------------------------------------------


class FrameReader(Protocol):
    def feed(self, frame: str | bytes, result: StreamResult) -> bool:
        """Add the tokens of `frame` to `result`; return True when the reply has ended."""
        ...


class MinimalFrames:
    """floor_relay.py and minimal_relay.py: a text frame is one delta, the binary frame
    b"end" ends the reply."""

    def feed(self, frame: str | bytes, result: StreamResult) -> bool:
        if isinstance(frame, bytes):
            return True
        result.text += frame
        return False


class ParlorFrames:
    """Parlor's HTML fragments (docs/chat-contract.md): escaped text appended `beforeend` to
    #message-<pk>-text; the end is the assistant message swapped with a terminal status."""

    def __init__(self) -> None:
        self.assistant_pk: str | None = None

    def feed(self, frame: str | bytes, result: StreamResult) -> bool:
        if isinstance(frame, bytes):
            frame = frame.decode("utf-8", "replace")
        for match in _TAG.finditer(frame):
            attrs = dict(_ATTR.findall(match.group(2) or ""))
            element_id = attrs.get("id", "")
            if attrs.get("hx-swap-oob") == "beforeend" and element_id.endswith("-text"):
                result.text += self._inner_text(frame, match)
            elif self._ends_reply(element_id, attrs, result):
                return True
        return False

    def _ends_reply(self, element_id: str, attrs: dict[str, str], result: StreamResult) -> bool:
        pk = element_id.removeprefix("message-")
        if not element_id.startswith("message-") or not pk.isdigit():
            return False
        status = attrs.get("data-message-status", "")
        if attrs.get("data-message-role") == "assistant" and status == "streaming":
            self.assistant_pk = pk
            return False
        if pk != self.assistant_pk or status not in TERMINAL:
            return False
        if status != "complete":
            result.error = f"reply ended {status}"
        return True

    @staticmethod
    def _inner_text(frame: str, match: re.Match[str]) -> str:
        end = frame.find(f"</{match.group(1)}>", match.end())
        inner = frame[match.end() : end if end >= 0 else len(frame)]
        return html.unescape(_MARKUP.sub("", inner))


# --- clients -------------------------------------------------------------------------


@dataclass
class Target:
    """Where the websocket clients go and what they send."""

    name: str
    urls: list[str]  # one per stream
    headers: list[dict[str, str]]  # one per stream
    origins: list[str | None]  # one per stream
    reader: Callable[[], FrameReader]
    pids: tuple[int, ...] = ()  # the relay's processes, for CPU and RSS


def prompt(tokens: int) -> str:
    return f"[demo:fixed_tokens:{tokens}] go"


async def read_reply(
    ws: ClientConnection, reader: FrameReader, message: str, delay: float, deadline: float
) -> StreamResult:
    """Send `message` after `delay`, then read frames until the reply ends."""
    result = StreamResult()
    last: float | None = None
    try:
        async with asyncio.timeout_at(deadline):
            await asyncio.sleep(delay)
            sent = time.perf_counter()
            await ws.send(message)
            async for frame in ws:
                now = time.perf_counter()
                before = len(result.text)
                ended = reader.feed(frame, result)
                if len(result.text) > before:
                    _note_token_frame(result, sent, last, now)
                    last = now
                if ended:
                    result.done = True
                    break
            else:
                result.error = "socket closed before the reply ended"
    except TimeoutError:
        result.error = "timed out"
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _note_token_frame(result: StreamResult, sent: float, last: float | None, now: float) -> None:
    result.frames += 1
    if last is None:
        result.ttft = now - sent
    else:
        result.gaps.append(now - last)


async def open_sockets(target: Target, deadline: float) -> list[ClientConnection]:
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(url: str, headers: dict[str, str], origin: str | None) -> ClientConnection:
        async with gate:
            return await connect(
                url,
                additional_headers=headers,
                origin=origin,  # type: ignore[arg-type]
                compression=None,  # daphne does not negotiate permessage-deflate either
                max_size=None,
                open_timeout=max(1.0, deadline - asyncio.get_running_loop().time()),
            )

    async with asyncio.timeout_at(deadline):
        return await asyncio.gather(*map(one, target.urls, target.headers, target.origins))


async def run_websocket_phase(target: Target, tokens: int, timeout: float, ramp: float) -> Phase:
    loop_deadline = asyncio.get_running_loop().time() + timeout
    sockets = await open_sockets(target, loop_deadline)
    message = json.dumps({"action": "send", "text": prompt(tokens), "HEADERS": {}})
    try:
        async with ProcessSampler(target.pids) as sampler:
            started = time.perf_counter()
            n = len(sockets)
            streams = await asyncio.gather(
                *(
                    read_reply(ws, target.reader(), message, i * ramp / n, loop_deadline)
                    for i, ws in enumerate(sockets)
                )
            )
            wall = time.perf_counter() - started
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return Phase(target.name, list(streams), wall, sampler.cpu_seconds, sampler.rss_peak_kb)


async def run_gateway_phase(
    gateway_url: str, streams: int, tokens: int, timeout: float, ramp: float
) -> Phase:
    """N streams straight to the gateway: its own TTFT and pacing, the baseline of both.

    Raw HTTP/1.1 on connections opened beforehand: no client library between the gateway and
    the clock (httpcore's pool costs O(connections) per request, see README)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    host, port = gateway_url.removeprefix("http://").rsplit(":", 1)
    async with asyncio.timeout_at(deadline):
        connections = await asyncio.gather(
            *(asyncio.open_connection(host, int(port)) for _ in range(streams))
        )
    request = _raw_request(host, tokens)
    started = time.perf_counter()
    try:
        results = await asyncio.gather(
            *(
                _direct_stream(reader, writer, request, i * ramp / streams, deadline)
                for i, (reader, writer) in enumerate(connections)
            )
        )
    finally:
        for _reader, writer in connections:
            writer.close()
    return Phase("gateway", list(results), time.perf_counter() - started)


def _raw_request(host: str, tokens: int) -> bytes:
    body = json.dumps(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": prompt(tokens)}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


async def _direct_stream(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: bytes,
    delay: float,
    deadline: float,
) -> StreamResult:
    """Send `request` after `delay`; read SSE `data:` lines (chunk framing lines never start
    with "data:") until the gateway closes the connection."""
    result = StreamResult()
    last: float | None = None
    try:
        async with asyncio.timeout_at(deadline):
            await asyncio.sleep(delay)
            sent = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            if not status.startswith(b"HTTP/1.1 200"):
                raise ValueError(status.decode("latin-1").strip())
            async for raw in reader:
                content = sse_content(raw.decode().rstrip("\r\n")) if raw[:5] == b"data:" else None
                if content:
                    now = time.perf_counter()
                    result.text += content
                    _note_token_frame(result, sent, last, now)
                    last = now
            result.done = True
    except TimeoutError:
        result.error = "timed out"
    except (OSError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def sse_content(line: str) -> str | None:
    if not line.startswith("data:") or line[5:].strip() in ("", "[DONE]"):
        return None
    choices = json.loads(line[5:]).get("choices") or ()
    return (choices[0].get("delta") or {}).get("content") if choices else None


# --- the relay process: CPU and memory from /proc -------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of all threads of `pid`."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class ProcessSampler:
    """CPU time used by processes inside the block (summed), and the peak RSS of the largest
    of them, sampled every 100 ms."""

    INTERVAL = 0.1
    SETTLE = 0.2  # let the relay finish its after-reply work before reading CPU time

    def __init__(self, pids: Sequence[int]) -> None:
        self.pids = tuple(pids)
        self.cpu_seconds: float | None = None
        self.rss_peak_kb: int | None = None
        self._start = 0.0
        self._task: asyncio.Task[None] | None = None

    def _cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def _rss(self) -> int:
        return max(rss_kb(pid) for pid in self.pids)

    async def __aenter__(self) -> ProcessSampler:
        if self.pids:
            self._start = self._cpu()
            self.rss_peak_kb = self._rss()
            self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self.pids or self._task is None:
            return
        await asyncio.sleep(self.SETTLE)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.cpu_seconds = self._cpu() - self._start
        self.rss_peak_kb = max(self.rss_peak_kb or 0, self._rss())

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(self.INTERVAL)
            self.rss_peak_kb = max(self.rss_peak_kb or 0, self._rss())


# --- subprocesses --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """Every child in its own session; all of them are ended on exit, error or Ctrl+C."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("wb")
        child = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.children.append((name, child))
        return child

    def log_tail(self, name: str, lines: int = 30, errors_only: bool = False) -> str:
        path = self.log_dir / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        kept = text.splitlines()
        if errors_only:  # daphne's access log and the per-reply INFO lines hide tracebacks
            kept = [line for line in kept if '"WS' not in line and " INFO " not in line]
        return "\n".join(kept[-lines:])

    def stop(self, child: subprocess.Popen[bytes]) -> None:
        """SIGINT first (daphne and cProfile shut down cleanly), then SIGTERM, then SIGKILL."""
        for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if child.poll() is not None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(wait)

    def stop_all(self) -> None:
        for _name, child in reversed(self.children):
            self.stop(child)
        self.children.clear()

    def wait_listening(self, name: str, child: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise RuntimeError(f"{name} exited ({child.returncode}):\n{self.log_tail(name)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not listen on {port}:\n{self.log_tail(name)}")


def base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def parlor_env(
    data_dir: Path, gateway_url: str, settings: str, scale: ScaleUrls | None = None
) -> dict[str, str]:
    """Embedded mode whatever the shell or .env say (SQLite in `data_dir`, in-memory layer),
    or scale mode on the benchmark's own PostgreSQL database and Redis database."""
    env = base_env()
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        PARLOR_DATA_DIR=str(data_dir),
        PARLOR_GATEWAY_BASE_URL=gateway_url,
        PARLOR_GATEWAY_API_KEY=API_KEY,
        PARLOR_DEBUG="False",
        PARLOR_PUBLIC_URL="",
        PARLOR_DATABASE_URL="",
        PARLOR_DATABASE_URL_FILE="",
        PARLOR_REDIS_URL="",
        PARLOR_REDIS_URL_FILE="",
    )
    for name in ("DATABASE_URL", "DATABASE_URL_FILE", "REDIS_URL", "REDIS_URL_FILE"):
        env.pop(name, None)
    if scale:
        env.update(PARLOR_DATABASE_URL=scale.database, PARLOR_REDIS_URL=scale.redis)
    return env


@dataclass
class ScaleUrls:
    """Scale mode's PostgreSQL and Redis: the servers of DATABASE_URL / REDIS_URL (or the CI
    defaults), but the benchmark's own database on each, so it never meets a test run's."""

    database: str
    redis: str

    @classmethod
    def from_env(cls) -> ScaleUrls:
        from urllib.parse import urlsplit, urlunsplit

        db = urlsplit(os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/")
        redis = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
        return cls(
            urlunsplit(db._replace(path=f"/{SCALE_DATABASE}")),
            urlunsplit(redis._replace(path=f"/{SCALE_REDIS_DB}")),
        )

    def reset(self) -> None:
        """A fresh database and an empty Redis database before every run."""
        from urllib.parse import urlsplit, urlunsplit

        import psycopg
        import redis

        server = urlunsplit(urlsplit(self.database)._replace(path="/postgres"))
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{SCALE_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{SCALE_DATABASE}"')
        client = redis.Redis.from_url(self.redis)
        client.flushdb()
        client.close()


@dataclass
class ParlorData:
    sessions: list[str]
    conversations: list[str]
    stream_flush_ms: float | None = None  # Parlor's STREAM_FLUSH_MS, for the gap goal

    def split(self, parts: int) -> list[ParlorData]:
        """The users in `parts` equal shares, one per server (never a conversation twice)."""
        size = len(self.sessions) // parts
        return [
            ParlorData(
                self.sessions[i * size : (i + 1) * size],
                self.conversations[i * size : (i + 1) * size],
                self.stream_flush_ms,
            )
            for i in range(parts)
        ]


def make_parlor_data(count: int) -> ParlorData:
    """Run in a child process with parlor_env(): migrate, then one team of `count` members,
    each with one conversation and a logged-in session: a team that sends together (one user
    could not: MAX_CONCURRENT_REPLIES caps the replies one user has streaming at once)."""
    _ensure_root_on_path()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import Membership, Team, User
    from chat.models import Conversation

    call_command("migrate", interactive=False, verbosity=0)
    team = Team.objects.create(name="Benchmark")
    sessions, conversations = [], []
    for i in range(count):
        user = User.objects.create_user(f"bench{i}", password=None)
        role = Membership.Role.OWNER if i == 0 else Membership.Role.MEMBER
        Membership.objects.create(team=team, user=user, role=role)
        # Titled, as a conversation under way is: a first reply would also ask the gateway
        # for a title (chat.titles), a second request that is not the token path's.
        conversation = Conversation.objects.create(
            team=team, created_by=user, model=MODEL, title=f"Benchmark {i}"
        )
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies["sessionid"].value)
        conversations.append(str(conversation.pk))
    return ParlorData(sessions, conversations, float(settings.STREAM_FLUSH_MS))


def serve_uvicorn(port: int) -> None:
    """Run in a child process with parlor_env(): Parlor's ASGI app (config.asgi, the one
    daphne serves) under uvicorn, with what `manage.py serve` runs around the server: the
    start-up checks, the background tasks and their end. No lifespan: Parlor has none."""
    _ensure_root_on_path()
    import django

    django.setup()
    import uvicorn

    from config import startup
    from config.asgi import application

    startup.before_serving(print)
    config = uvicorn.Config(
        application, host="127.0.0.1", port=port, lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)

    async def serve() -> None:
        tasks = startup.start_background(asyncio.get_running_loop())
        try:
            await server.serve()
        finally:
            await startup.shutdown(tasks)

    asyncio.run(serve())


def run_child(script: str, args: list[str], env: dict[str, str]) -> Any:
    """Run `script` in a child process with Parlor's environment `env`: the JSON of its last
    line of output. RuntimeError with its output if it failed."""
    out = subprocess.run(
        [sys.executable, script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(
            f"{Path(script).name} {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare_parlor(env: dict[str, str], count: int) -> ParlorData:
    script = str(Path(__file__).resolve())
    return ParlorData(**run_child(script, ["--make-parlor-data", str(count)], env))


def parlor_target(
    name: str, data: ParlorData, servers: list[tuple[int, int]]
) -> Callable[[int], Target]:
    """Targets of fresh users and conversations each round; the clients go round-robin to
    `servers` ((pid, port) of each daphne process)."""
    pool = zip(data.conversations, data.sessions, strict=True)
    pids = tuple(pid for pid, _ in servers)

    def target(n: int) -> Target:
        users = [next(pool) for _ in range(n)]
        ports = [servers[i % len(servers)][1] for i in range(n)]
        urls = [
            f"ws://127.0.0.1:{port}/ws/chat/{c}/" for port, (c, _) in zip(ports, users, strict=True)
        ]
        headers = [{"Cookie": f"sessionid={session}"} for _, session in users]
        origins: list[str | None] = [f"http://127.0.0.1:{port}" for port in ports]
        return Target(name, urls, headers, origins, ParlorFrames, pids)

    return target


# --- a whole run ---------------------------------------------------------------------


@dataclass
class Options:
    streams: list[int]
    tokens: list[int] = field(default_factory=lambda: [20, 200])  # two counts: intercept + slope
    token_delay: float = 0.02
    warmup: int = 4
    ramp: float = 0.0  # stream starts are spread evenly over this many seconds (0: a burst)
    relays: tuple[str, ...] = ("floor", "parlor")
    profile: Path | None = None  # run Parlor under cProfile, write the stats here
    spy: Path | None = None  # py-spy Parlor (all threads) during its last round, raw format
    parlor_settings: str = "config.settings.base"  # try a settings change without editing
    scale: bool = False  # also Parlor on PostgreSQL + Redis, one process and two


@dataclass
class Round:
    streams: int
    tokens: int
    gateway: Phase
    relays: dict[str, Phase]
    ramp: float = 0.0
    stream_flush_ms: float | None = None


class Bench:
    """Starts the gateway and the relays, runs the rounds, stops everything."""

    def __init__(self, options: Options, procs: Processes, data_dir: Path) -> None:
        self.options = options
        self.procs = procs
        self.data_dir = data_dir
        self.gateway_url = ""
        self.targets: dict[str, Callable[[int], Target]] = {}
        self.stream_flush_ms: float | None = None

    def start(self) -> None:
        self.gateway_url = self._start_gateway()
        if "floor" in self.options.relays:
            self.targets["floor"] = self._start_script("floor", "floor_relay.py")
        if "minimal" in self.options.relays:
            self.targets["minimal"] = self._start_script("minimal", "minimal_relay.py")
        parlors = [name for name in ("parlor", UVICORN_RELAY) if name in self.options.relays]
        if parlors:
            self.targets.update(self._start_parlors(parlors))
        if self.options.scale:
            urls = ScaleUrls.from_env()
            urls.reset()
            self.targets.update(self._start_scale(urls))

    def _spawn(self, name: str, args: list[str], env: dict[str, str], port: int) -> int:
        child = self.procs.start(name, args, env)
        self.procs.wait_listening(name, child, port)
        return child.pid

    def _start_gateway(self) -> str:
        port = free_port()
        args = [sys.executable, "-m", "demo_gateway", "--host", "127.0.0.1", "--port", str(port)]
        args += ["--api-key", API_KEY, "--token-delay", str(self.options.token_delay)]
        self._spawn("gateway", args, base_env(), port)
        return f"http://127.0.0.1:{port}"

    def _start_script(self, name: str, script: str) -> Callable[[int], Target]:
        port = free_port()
        path = str(ROOT / "benchmarks" / script)
        args = [sys.executable, path, "--port", str(port), "--gateway", self.gateway_url]
        pid = self._spawn(name, [*args, "--api-key", API_KEY], base_env(), port)
        url = f"ws://127.0.0.1:{port}/"
        return lambda n: Target(name, [url] * n, [{}] * n, [None] * n, MinimalFrames, (pid,))

    def _users(self) -> int:
        return self.options.warmup + sum(self.options.streams) * len(self.options.tokens)

    def _serve(self, name: str, env: dict[str, str]) -> tuple[int, int]:
        port = free_port()
        runner = [sys.executable]
        if self.options.profile and name == "parlor":
            runner += ["-m", "cProfile", "-o", str(self.options.profile)]
        if name == UVICORN_RELAY:
            args = [*runner, str(Path(__file__).resolve()), "--serve-uvicorn", str(port)]
            return self._spawn(name, args, env, port), port
        args = [*runner, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
        return self._spawn(name, [*args, "--no-migrate"], env, port), port

    def _start_parlors(self, names: list[str]) -> dict[str, Callable[[int], Target]]:
        """Parlor under daphne and/or uvicorn: one database, separate users for each."""
        env = parlor_env(self.data_dir, self.gateway_url, self.options.parlor_settings)
        data = prepare_parlor(env, len(names) * self._users())
        self.stream_flush_ms = data.stream_flush_ms
        targets = {}
        for name, share in zip(names, data.split(len(names)), strict=True):
            pid, port = self._serve(name, env)
            targets[name] = parlor_target(name, share, [(pid, port)])
        return targets

    def _start_scale(self, urls: ScaleUrls) -> dict[str, Callable[[int], Target]]:
        """Scale mode: one process, and two with the clients split between them, on the same
        PostgreSQL and Redis (separate users, so the rounds never share a conversation)."""
        env = parlor_env(self.data_dir, self.gateway_url, self.options.parlor_settings, urls)
        data = prepare_parlor(env, 2 * self._users())
        half = len(data.sessions) // 2
        one = ParlorData(data.sessions[:half], data.conversations[:half])
        two = ParlorData(data.sessions[half:], data.conversations[half:])
        servers = [self._serve(f"scale-{i}", env) for i in (1, 2)]
        return {
            "scale-1p": parlor_target("scale-1p", one, servers[:1]),
            "scale-2p": parlor_target("scale-2p", two, servers),
        }

    def timeout(self) -> float:
        options = self.options
        return 30.0 + options.ramp + 3 * max(options.tokens) * options.token_delay

    async def warm_up(self) -> None:
        if self.options.warmup:
            for make in self.targets.values():
                await run_websocket_phase(make(self.options.warmup), 20, self.timeout(), 0.0)

    async def run_round(self, streams: int, tokens: int) -> Round:
        timeout = self.timeout()
        ramp = self.options.ramp
        gateway = await run_gateway_phase(self.gateway_url, streams, tokens, timeout, ramp)
        relays = {}
        last = (streams, tokens) == (self.options.streams[-1], self.options.tokens[-1])
        for name, make in self.targets.items():
            target = make(streams)
            spying = self.options.spy is not None and last and name == "parlor"
            with py_spy(target.pids[0], self.options.spy) if spying else contextlib.nullcontext():
                relays[name] = await run_websocket_phase(target, tokens, timeout, ramp)
        return Round(streams, tokens, gateway, relays, ramp, self.stream_flush_ms)


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy records every thread of `pid` (idle included) while the block runs; its raw
    output goes to `out` (summarise it with benchmarks/spy_summary.py)."""
    assert out is not None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args = [spy, "record", "--pid", str(pid), "--idle", "--threads", "--rate", "200"]
    child = subprocess.Popen([*args, "--format", "raw", "-o", str(out)], start_new_session=True)
    try:
        yield
    finally:
        child.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl+C
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()


async def run_rounds(bench: Bench, report: Callable[[Round], None] | None = None) -> list[Round]:
    await bench.warm_up()
    rounds = []
    for tokens in bench.options.tokens:
        for streams in bench.options.streams:
            rounds.append(await bench.run_round(streams, tokens))
            if report:
                report(rounds[-1])
    return rounds


def run(options: Options, report: Callable[[Round], None] | None = None) -> list[Round]:
    """The benchmark's core: start everything, run every round, stop everything."""
    with (
        tempfile.TemporaryDirectory(prefix="parlor-bench-") as tmp,
        Processes(Path(tmp)) as procs,
    ):
        bench = Bench(options, procs, Path(tmp) / "data")
        try:
            bench.start()
            rounds = asyncio.run(run_rounds(bench, report))
        except BaseException:
            for name, _child in procs.children:
                print(f"--- {name} log (tail) ---\n{procs.log_tail(name)}", file=sys.stderr)
            raise
        failed = any(s.error for r in rounds for p in r.relays.values() for s in p.streams)
        if failed:  # a lost stream: show why (not the access log), from every process
            for name, _child in procs.children:  # scale relays run as scale-1 and scale-2
                tail = procs.log_tail(name, 60, True)
                print(f"--- {name} log (tail) ---\n{tail}", file=sys.stderr)
        return rounds


# --- report --------------------------------------------------------------------------


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def phase_metrics(phase: Phase, gateway: Phase, expected: str) -> dict[str, float | None]:
    ttft_50, ttft_99 = percentile(phase.ttfts(), 50), percentile(phase.ttfts(), 99)
    return {
        "ttft_p50_ms": ms(ttft_50),
        "ttft_p99_ms": ms(ttft_99),
        "added_ttft_p50_ms": ms(_minus(ttft_50, percentile(gateway.ttfts(), 50))),
        "added_ttft_p99_ms": ms(_minus(ttft_99, percentile(gateway.ttfts(), 99))),
        "gap_p99_ms": ms(percentile(phase.gaps(), 99)),
        "cpu_us_per_token": phase.cpu_us_per_token(),
        "rss_peak_mb": None if phase.rss_peak_kb is None else phase.rss_peak_kb / 1024,
        "tokens_received": phase.tokens,
        "frames_per_stream": sum(s.frames for s in phase.streams) / max(1, len(phase.streams)),
        "complete_streams": phase.complete(expected),
        "wall_s": phase.wall,
    }


def round_metrics(rnd: Round) -> dict[str, Any]:
    expected = expected_text(rnd.tokens)
    relays = {name: phase_metrics(p, rnd.gateway, expected) for name, p in rnd.relays.items()}
    return {
        "streams": rnd.streams,
        "tokens": rnd.tokens,
        "ramp_s": rnd.ramp,
        "stream_flush_ms": rnd.stream_flush_ms,
        "expected_tokens": rnd.streams * rnd.tokens,
        "gateway": phase_metrics(rnd.gateway, rnd.gateway, expected),
        "relays": relays,
        "errors": {
            name: sorted({s.error for s in p.streams if s.error})[:5]
            for name, p in {"gateway": rnd.gateway, **rnd.relays}.items()
        },
    }


ROWS = (
    ("added TTFT p50 (ms)", "added_ttft_p50_ms", "{:.2f}"),
    ("added TTFT p99 (ms)", "added_ttft_p99_ms", "{:.2f}"),
    ("TTFT p50 (ms)", "ttft_p50_ms", "{:.2f}"),
    ("TTFT p99 (ms)", "ttft_p99_ms", "{:.2f}"),
    ("inter-token gap p99 (ms)", "gap_p99_ms", "{:.1f}"),
    ("CPU per token (µs)", "cpu_us_per_token", "{:.1f}"),
    ("peak RSS (MB)", "rss_peak_mb", "{:.1f}"),
    ("token frames per stream", "frames_per_stream", "{:.1f}"),
    ("tokens received", "tokens_received", "{:d}"),
    ("complete, in-order streams", "complete_streams", "{:d}"),
    ("wall time (s)", "wall_s", "{:.1f}"),
)


def _fmt(value: float | None, spec: str) -> str:
    if value is None:
        return "-"
    return spec.format(int(value)) if spec == "{:d}" else spec.format(value)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def _width(name: str) -> int:
    """A relay's column: 12 characters, wider for a longer name."""
    return max(12, len(name) + 2)


def format_round(metrics: dict[str, Any]) -> str:
    gateway, relays = metrics["gateway"], metrics["relays"]
    names = list(relays)
    floor, parlor = relays.get("floor", {}), relays.get("parlor", {})
    lines = [
        f"\n== {metrics['streams']} streams x {metrics['tokens']} tokens "
        f"(gateway TTFT p50 {_fmt(gateway['ttft_p50_ms'], '{:.2f}')} ms, "
        f"p99 {_fmt(gateway['ttft_p99_ms'], '{:.2f}')} ms; "
        f"gap p99 {_fmt(gateway['gap_p99_ms'], '{:.1f}')} ms) ==",
        f"{'metric':<28}" + "".join(f"{n:>{_width(n)}}" for n in names) + f"{'parlor/floor':>14}",
    ]
    for label, key, spec in ROWS:
        cells = "".join(f"{_fmt(relays[n].get(key), spec):>{_width(n)}}" for n in names)
        ratio = (
            _ratio(parlor.get(key), floor.get(key))
            if key in ("cpu_us_per_token", "rss_peak_mb", "ttft_p50_ms", "ttft_p99_ms")
            else ""
        )
        lines.append(f"{label:<28}{cells}{ratio:>14}")
    for name, errors in metrics["errors"].items():
        if errors:
            lines.append(f"  {name} errors: {'; '.join(errors)}")
    return "\n".join(lines)


def cpu_split(all_metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per relay and concurrency, from the two token counts: CPU per stream = per reply
    (intercept) + per token x tokens (slope); per frame is the same line against frames."""
    found = []
    by_key: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    for m in all_metrics:
        for name, relay in m["relays"].items():
            cpu = relay["cpu_us_per_token"]
            if cpu is None or not relay["tokens_received"]:
                continue
            per_stream_us = cpu * relay["tokens_received"] / m["streams"]
            by_key.setdefault((name, m["streams"]), []).append(
                (m["tokens"], relay["frames_per_stream"], per_stream_us)
            )
    for (name, streams), points in sorted(by_key.items()):
        points.sort()
        if len(points) < 2 or points[0][0] == points[-1][0]:
            continue
        (t1, f1, c1), (t2, f2, c2) = points[0], points[-1]
        per_token = (c2 - c1) / (t2 - t1)
        per_frame = (c2 - c1) / (f2 - f1) if f2 != f1 else None
        found.append(
            {
                "relay": name,
                "streams": streams,
                "tokens": [t1, t2],
                "per_reply_ms": (c1 - per_token * t1) / 1000,
                "per_token_us": per_token,
                "per_frame_us": per_frame,
                "frames_per_token": (f2 - f1) / (t2 - t1),
            }
        )
    return found


def format_cpu_split(split: list[dict[str, Any]]) -> str:
    if not split:
        return ""
    lines = [
        "\n== CPU per reply (intercept) and per token / per frame (slope) ==",
        f"{'relay':<16}{'streams':>8}{'per reply ms':>14}{'per token µs':>14}"
        f"{'per frame µs':>14}{'frames/token':>14}",
    ]
    for row in split:
        lines.append(
            f"{row['relay']:<16}{row['streams']:>8}{_fmt(row['per_reply_ms'], '{:.2f}'):>14}"
            f"{_fmt(row['per_token_us'], '{:.1f}'):>14}{_fmt(row['per_frame_us'], '{:.1f}'):>14}"
            f"{_fmt(row['frames_per_token'], '{:.2f}'):>14}"
        )
    return "\n".join(lines)


def _headline(all_metrics: list[dict[str, Any]], streams: int) -> dict[str, Any] | None:
    """The round at `streams` with the most tokens (the goals' 200-token rows)."""
    rounds = [m for m in all_metrics if m["streams"] == streams and "parlor" in m["relays"]]
    return max(rounds, key=lambda m: m["tokens"]) if rounds else None


def verdicts(all_metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Met / not met for each goal that the rounds run can decide."""
    found = []

    def relay(m: dict[str, Any], name: str, key: str) -> float | None:
        value: float | None = m["relays"].get(name, {}).get(key)
        return value

    small = _headline(all_metrics, TTFT_SMALL_STREAMS)
    if small and "floor" in small["relays"]:
        floor, parlor = relay(small, "floor", "ttft_p50_ms"), relay(small, "parlor", "ttft_p50_ms")
        limit = None if floor is None else floor + TTFT_SMALL_ADDED_MS
        found.append(
            _verdict(small, f"TTFT p50 <= floor + {TTFT_SMALL_ADDED_MS:g} ms", parlor, limit, "ms")
        )
    large = _headline(all_metrics, TTFT_LARGE_STREAMS)
    if large and "floor" in large["relays"]:
        floor, parlor = relay(large, "floor", "ttft_p50_ms"), relay(large, "parlor", "ttft_p50_ms")
        limit = None if floor is None else floor * TTFT_LARGE_RATIO
        found.append(
            _verdict(large, f"TTFT p50 <= {TTFT_LARGE_RATIO:g}x floor", parlor, limit, "ms")
        )
    for streams in CPU_STREAMS:
        m = _headline(all_metrics, streams)
        if m and "floor" in m["relays"]:
            floor = relay(m, "floor", "cpu_us_per_token")
            limit = None if floor is None else floor * CPU_RATIO
            value = relay(m, "parlor", "cpu_us_per_token")
            found.append(_verdict(m, f"CPU per token <= {CPU_RATIO:g}x floor", value, limit, "µs"))
    found += gap_verdicts(all_metrics)
    m = _headline(all_metrics, RSS_STREAMS)
    if m:
        value = relay(m, "parlor", "rss_peak_mb")
        found.append(_verdict(m, f"peak RSS <= {RSS_LIMIT_MB:g} MB", value, RSS_LIMIT_MB, "MB"))
    for m in all_metrics:
        one, two = m["relays"].get("scale-1p"), m["relays"].get("scale-2p")
        if one and two:  # scale mode: does the second process add capacity?
            goal = f"scale: 2 processes TTFT p50 < 1 process ({m['tokens']} tokens)"
            found.append(
                _verdict(
                    m,
                    goal,
                    two["ttft_p50_ms"],
                    one["ttft_p50_ms"],
                    "ms",
                    strict=True,
                    judged=("scale-1p", "scale-2p"),
                )
            )
    names = {name: None for m in all_metrics for name in m["relays"]}
    for name in names:  # one line per relay over every round
        rounds = [m for m in all_metrics if name in m["relays"]]
        lost = [m for m in rounds if m["relays"][name]["complete_streams"] < m["streams"]]
        worst = lost[0] if lost else rounds[-1]
        goal = f"every stream complete and in order ({name}, all {len(rounds)} rounds)"
        complete = worst["relays"][name]["complete_streams"]
        found.append(_verdict(worst, goal, complete, worst["streams"], "streams", at_least=True))
    return found


def gap_verdicts(all_metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inter-token gap p99 <= STREAM_FLUSH_MS + GAP_ADDED_MS at every N run in burst mode:
    coalescing may hold a token one flush interval, and the event loop little more."""
    found = []
    for streams in sorted({m["streams"] for m in all_metrics}):
        m = _headline(all_metrics, streams)
        if m is None or m.get("ramp_s") or m.get("stream_flush_ms") is None:
            continue
        limit = m["stream_flush_ms"] + GAP_ADDED_MS
        goal = f"inter-token gap p99 <= STREAM_FLUSH_MS + {GAP_ADDED_MS:g} ms"
        value = m["relays"]["parlor"]["gap_p99_ms"]
        found.append(_verdict(m, goal, value, limit, "ms"))
    return found


def _verdict(
    m: dict[str, Any],
    goal: str,
    value: float | None,
    limit: float | None,
    unit: str,
    at_least: bool = False,
    strict: bool = False,
    judged: tuple[str, ...] = ("parlor",),
) -> dict[str, Any]:
    met = False
    if value is not None and limit is not None:
        met = value >= limit if at_least else value < limit if strict else value <= limit
    if not at_least:  # a goal is never met by a round in which the judged relays lost a stream
        met = met and all(m["relays"][name]["complete_streams"] == m["streams"] for name in judged)
    shown = "-" if value is None else f"{value:.1f} {unit}"
    bound = "-" if limit is None else f"{limit:.1f} {unit}"
    return {
        "streams": m["streams"],
        "tokens": m["tokens"],
        "goal": goal,
        "value": value,
        "limit": limit,
        "met": met,
        "line": f"{goal} at {m['streams']} streams: {'met' if met else 'NOT met'} "
        f"({shown}; limit {bound})",
    }


def write_json(path: Path, options: Options, metrics: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "options": {
            **asdict(options),
            "profile": str(options.profile or ""),
            "spy": str(options.spy or ""),
        },
        "rounds": metrics,
        "cpu_split": cpu_split(metrics),
        "verdicts": verdicts(metrics),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


# --- command line --------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[Options, Path, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", default="10,50,150", help="comma-separated concurrencies")
    parser.add_argument(
        "--tokens", default="20,200", help="comma-separated tokens per reply (two: CPU split)"
    )
    parser.add_argument("--token-delay", type=float, default=0.02, help="gateway pacing (s)")
    parser.add_argument(
        "--ramp", type=float, default=0.0, help="spread stream starts over this many seconds"
    )
    parser.add_argument("--quick", action="store_true", help="one round of 10 streams x 20")
    parser.add_argument(
        "--relays",
        default="floor,parlor",
        help=f"comma-separated: floor, minimal, parlor, {UVICORN_RELAY} (uvicorn must be "
        "importable, e.g. on PYTHONPATH)",
    )
    parser.add_argument("--json", type=Path, default=RESULTS, help="where to write results")
    parser.add_argument("--profile-parlor", type=Path, help="cProfile Parlor into this file")
    parser.add_argument(
        "--py-spy", type=Path, help="py-spy Parlor's last round (all threads) into this raw file"
    )
    parser.add_argument(
        "--parlor-settings", default="config.settings.base", help="Parlor's settings module"
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help=f"also Parlor on PostgreSQL + Redis (database {SCALE_DATABASE}, Redis db "
        f"{SCALE_REDIS_DB} on the servers of DATABASE_URL / REDIS_URL): one process, two",
    )
    parser.add_argument("--make-parlor-data", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-uvicorn", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    streams = [10] if args.quick else [int(n) for n in args.streams.split(",") if n.strip()]
    tokens = [20] if args.quick else [int(n) for n in args.tokens.split(",") if n.strip()]
    relays = tuple(r.strip() for r in args.relays.split(",") if r.strip())
    unknown = set(relays) - set(RELAYS)
    if unknown:
        parser.error(f"unknown relays: {', '.join(sorted(unknown))}")
    if UVICORN_RELAY in relays and importlib.util.find_spec("uvicorn") is None:
        print(
            f"{UVICORN_RELAY}: not run, uvicorn cannot be imported here (install it, or put "
            "the directory it is installed in on PYTHONPATH)",
            flush=True,
        )
        relays = tuple(r for r in relays if r != UVICORN_RELAY)
    if not relays:
        parser.error("no relay to run")
    options = Options(
        streams=streams,
        tokens=tokens,
        token_delay=args.token_delay,
        ramp=args.ramp,
        parlor_settings=args.parlor_settings,
        relays=relays,
        scale=args.scale,
        profile=args.profile_parlor.resolve() if args.profile_parlor else None,
        spy=args.py_spy.resolve() if args.py_spy else None,
    )
    return options, args.json, args


def _raise_on_sigterm() -> None:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    options, json_path, args = parse_args(argv)
    if args.make_parlor_data is not None:
        print(json.dumps(asdict(make_parlor_data(args.make_parlor_data))))
        return 0
    if args.serve_uvicorn is not None:
        serve_uvicorn(args.serve_uvicorn)
        return 0
    _raise_on_sigterm()
    print(
        f"Parlor stream relay benchmark: {options.tokens} tokens per reply, "
        f"{options.token_delay * 1000:g} ms apart, streams {options.streams}, "
        f"ramp {options.ramp:g} s ({'burst' if not options.ramp else 'ramped'}), "
        f"relays {list(options.relays)}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    metrics: list[dict[str, Any]] = []

    def report(rnd: Round) -> None:
        metrics.append(round_metrics(rnd))
        print(format_round(metrics[-1]), flush=True)

    run(options, report)
    print(format_cpu_split(cpu_split(metrics)))
    print()
    for verdict in verdicts(metrics):
        print(verdict["line"])
    write_json(json_path, options, metrics)
    print(f"\nResults written to {json_path}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
