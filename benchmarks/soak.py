"""Soak: a sustained mix of chat replies and Midjourney jobs on scale mode for a few minutes.

Two daphne processes (`manage.py serve`) and two `manage.py runworker media-jobs` workers on
PostgreSQL and Redis (the servers of DATABASE_URL / REDIS_URL or the CI defaults, but the soak's
own database `bench_soak` and Redis database 12, both emptied first), the demo gateway in its
own process. Each client is a member with a conversation, its socket on one of the two web
processes (round-robin), sending one message after another without pause: a chat reply of 60
tokens, and every fifth turn `/imagine …`, a job the workers poll to its end.

Every `--sample` seconds it records each process's resident memory, the database's open
connections (pg_stat_activity) and the replies, jobs and errors of the interval. At the end it
prints that table and whether memory and connections stayed flat: the mean of the last quarter
against the mean of the second (the first is the warm-up: imports, caches, pools filling),
at most +10 % or +16 MB per process, connections at most +2. Then it waits for the jobs still
running and checks the money: every message and job ended, and the team's spend plus what is
still reserved equals its usage records. It prints; it never asserts (the fault suite tests).

    python benchmarks/soak.py                    # 3 minutes, 16 clients
    python benchmarks/soak.py --seconds 30 --clients 6   # a short look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.stream_relay import (  # noqa: E402
    API_KEY,
    ParlorData,
    ParlorFrames,
    Processes,
    ScaleUrls,
    StreamResult,
    base_env,
    free_port,
    parlor_env,
    prepare_parlor,
    rss_kb,
    run_child,
)

DATABASE = "bench_soak"
REDIS_DB = 12
TOKENS = 60
JOB_EVERY = 5  # every fifth turn of a client is a Midjourney job
GROWTH_SHARE, GROWTH_MB, GROWTH_CONNECTIONS = 0.10, 16.0, 2


@dataclass
class Interval:
    at: float
    replies: int = 0
    jobs: int = 0
    errors: int = 0
    rss_mb: dict[str, float] = field(default_factory=dict)
    connections: int | None = None


@dataclass
class Tally:
    replies: int = 0
    jobs: int = 0
    errors: int = 0
    samples: list[str] = field(default_factory=list)  # a few error texts

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(text)


def scale_urls() -> ScaleUrls:
    from urllib.parse import urlsplit, urlunsplit

    base = ScaleUrls.from_env()
    db, redis = urlsplit(base.database), urlsplit(base.redis)
    return ScaleUrls(
        urlunsplit(db._replace(path=f"/{DATABASE}")),
        urlunsplit(redis._replace(path=f"/{REDIS_DB}")),
    )


def reset(urls: ScaleUrls) -> None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    import redis

    server = urlunsplit(urlsplit(urls.database)._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    client = redis.Redis.from_url(urls.redis)
    client.flushdb()
    client.close()


def connection_count(urls: ScaleUrls) -> int | None:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    server = urlunsplit(urlsplit(urls.database)._replace(path="/postgres"))
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [DATABASE]
            ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


async def client_loop(
    url: str, session: str, origin: str, stop_at: float, tally: Tally, turn_timeout: float
) -> None:
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    turn = 0
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at:
        try:
            headers = {"Cookie": f"sessionid={session}"}
            async with connect(url, additional_headers=headers, origin=Origin(origin)) as ws:
                while loop.time() < stop_at:
                    turn += 1
                    if turn % JOB_EVERY == 0:
                        await one_job(ws, turn, tally, turn_timeout)
                    else:
                        await one_reply(ws, tally, turn_timeout)
        except Exception as exc:
            tally.error(f"socket: {type(exc).__name__}: {exc}")
            await asyncio.sleep(1.0)


async def one_reply(ws: Any, tally: Tally, timeout: float) -> None:
    text = json.dumps({"action": "send", "text": f"[demo:fixed_tokens:{TOKENS}] go"})
    reader, result = ParlorFrames(), StreamResult()
    try:
        async with asyncio.timeout(timeout):
            await ws.send(text)
            async for frame in ws:
                if reader.feed(frame, result):
                    break
    except TimeoutError:
        result.error = "reply timed out"
    if result.error:
        tally.error(result.error)
    else:
        tally.replies += 1


async def one_job(ws: Any, turn: int, tally: Tally, timeout: float) -> None:
    """The command answers with the job's card; the workers take it from there."""
    await ws.send(json.dumps({"action": "send", "text": f"/imagine a lighthouse, take {turn}"}))
    try:
        async with asyncio.timeout(timeout):
            async for frame in ws:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                if "job-" in text or "media-job" in text:
                    tally.jobs += 1
                    return
                if "composer-error" in text or 'role="alert"' in text:
                    tally.error("job refused: " + text[:200])
                    return
    except TimeoutError:
        tally.error("job submit timed out")


async def sample_loop(
    procs: dict[str, int], urls: ScaleUrls, tally: Tally, every: float, stop_at: float
) -> list[Interval]:
    loop = asyncio.get_running_loop()
    started, intervals = loop.time(), []
    seen = (0, 0, 0)
    while loop.time() < stop_at:
        await asyncio.sleep(min(every, max(0.0, stop_at - loop.time())))
        now = (tally.replies, tally.jobs, tally.errors)
        interval = Interval(
            at=loop.time() - started,
            replies=now[0] - seen[0],
            jobs=now[1] - seen[1],
            errors=now[2] - seen[2],
            rss_mb={name: rss_kb(pid) / 1024 for name, pid in procs.items()},
            connections=await asyncio.to_thread(connection_count, urls),
        )
        seen = now
        intervals.append(interval)
        print(format_interval(interval), flush=True)
    return intervals


def format_interval(iv: Interval) -> str:
    memory = "  ".join(f"{name} {mb:6.1f}" for name, mb in iv.rss_mb.items())
    return (
        f"{iv.at:6.0f} s  replies {iv.replies:4d}  jobs {iv.jobs:3d}  errors {iv.errors:3d}  "
        f"db conns {iv.connections if iv.connections is not None else '?':>3}  MB: {memory}"
    )


def flatness(intervals: list[Interval]) -> list[str]:
    """Second quarter against last quarter (the first is the warm-up)."""
    n = len(intervals)
    if n < 8:
        return ["too few samples to judge flatness (run longer or sample more often)"]
    q = n // 4
    second, last = intervals[q : 2 * q], intervals[n - q :]
    lines = []
    for name in intervals[0].rss_mb:
        before = sum(iv.rss_mb[name] for iv in second) / len(second)
        after = sum(iv.rss_mb[name] for iv in last) / len(last)
        limit = max(before * GROWTH_SHARE, GROWTH_MB)
        verdict = "flat" if after - before <= limit else "GROWING"
        lines.append(f"memory {name}: {before:.1f} → {after:.1f} MB ({verdict})")
    conns = [iv.connections for iv in intervals if iv.connections is not None]
    if conns:
        before_c = max(c for c in (iv.connections for iv in second) if c is not None)
        after_c = max(c for c in (iv.connections for iv in last) if c is not None)
        verdict = "flat" if after_c - before_c <= GROWTH_CONNECTIONS else "GROWING"
        lines.append(f"database connections: max {before_c} → {after_c} ({verdict})")
    errors = sum(iv.errors for iv in intervals)
    lines.append(f"errors: {errors} ({'none' if not errors else 'SOME'})")
    return lines


def check_data() -> dict[str, Any]:
    """In a child process with the soak's environment: how every message and job ended, and
    whether the money adds up."""
    import django

    django.setup()
    from django.db.models import Count, Sum

    from accounts.models import Team
    from chat.models import Message
    from media_jobs.models import MediaJob
    from usage.models import TeamMonth, UsageRecord

    team = Team.objects.get()
    messages = dict(
        Message.objects.filter(role="assistant").values_list("status").annotate(n=Count("pk"))
    )
    jobs = dict(MediaJob.objects.values_list("status").annotate(n=Count("pk")))
    records = UsageRecord.objects.filter(team=team)
    owed = (
        records.filter(status=UsageRecord.Status.SETTLED).aggregate(s=Sum("cost"))["s"] or 0
    ) + (records.filter(status=UsageRecord.Status.RESERVED).aggregate(s=Sum("reserved"))["s"] or 0)
    counters = TeamMonth.objects.filter(team=team).aggregate(s=Sum("spent"), r=Sum("reserved"))
    counted = (counters["s"] or 0) + (counters["r"] or 0)
    return {
        "messages": {str(k): v for k, v in messages.items()},
        "jobs": {str(k): v for k, v in jobs.items()},
        "records_owed": str(owed),
        "spent_plus_reserved": str(counted),
        "money_adds_up": abs(owed - counted) < 0.0001,
    }


def run_check(env: dict[str, str]) -> dict[str, Any]:
    try:
        result: dict[str, Any] = run_child(str(Path(__file__).resolve()), ["--check-data"], env)
    except RuntimeError as exc:
        return {"error": str(exc)[-2000:]}
    return result


@dataclass
class Stack:
    env: dict[str, str]
    data: ParlorData
    web_ports: list[int]
    pids: dict[str, int]


def start_stack(procs: Processes, tmp: Path, clients: int, workers: int) -> Stack:
    urls = scale_urls()
    reset(urls)
    gateway_port = free_port()
    gateway = [sys.executable, "-m", "demo_gateway", "--host", "127.0.0.1"]
    gateway += ["--port", str(gateway_port), "--api-key", API_KEY, "--token-delay", "0.02"]
    procs.wait_listening("gateway", procs.start("gateway", gateway, base_env()), gateway_port)
    env = parlor_env(tmp / "data", f"http://127.0.0.1:{gateway_port}", "config.settings.base")
    env.update(PARLOR_DATABASE_URL=urls.database, PARLOR_REDIS_URL=urls.redis)
    data = prepare_parlor(env, clients)
    pids: dict[str, int] = {}
    ports: list[int] = []
    for i in (1, 2):
        port = free_port()
        args = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
        child = procs.start(f"web-{i}", [*args, "--no-migrate"], env)
        procs.wait_listening(f"web-{i}", child, port)
        pids[f"web-{i}"] = child.pid
        ports.append(port)
    for i in range(1, workers + 1):
        child = procs.start(
            f"worker-{i}", [sys.executable, "manage.py", "runworker", "media-jobs"], env
        )
        pids[f"worker-{i}"] = child.pid
    env["SOAK_URLS"] = json.dumps([urls.database, urls.redis])
    return Stack(env, data, ports, pids)


async def soak(stack: Stack, seconds: float, every: float) -> tuple[list[Interval], Tally]:
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds
    tally = Tally()
    urls = ScaleUrls(*json.loads(stack.env["SOAK_URLS"]))
    clients = []
    for i, (conversation, session) in enumerate(
        zip(stack.data.conversations, stack.data.sessions, strict=True)
    ):
        port = stack.web_ports[i % len(stack.web_ports)]
        url = f"ws://127.0.0.1:{port}/ws/chat/{conversation}/"
        origin = f"http://127.0.0.1:{port}"
        clients.append(client_loop(url, session, origin, stop_at, tally, 60.0))
    sampler = asyncio.ensure_future(sample_loop(stack.pids, urls, tally, every, stop_at))
    await asyncio.gather(*clients)
    return await sampler, tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=float, default=5.0)
    parser.add_argument("--check-data", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check_data:
        print(json.dumps(check_data()))
        return 0
    with tempfile.TemporaryDirectory(prefix="parlor-soak-") as tmp, Processes(Path(tmp)) as procs:
        try:
            stack = start_stack(procs, Path(tmp), args.clients, args.workers)
            print(
                f"soak: {args.clients} clients, 2 web processes, {args.workers} workers, "
                f"{args.seconds:.0f} s",
                flush=True,
            )
            intervals, tally = asyncio.run(soak(stack, args.seconds, args.sample))
        except BaseException:
            for name, _child in procs.children:
                print(f"--- {name} log (tail) ---\n{procs.log_tail(name)}", file=sys.stderr)
            raise
        print(f"\n{tally.replies} replies, {tally.jobs} jobs submitted, {tally.errors} errors")
        for sample in tally.samples:
            print(f"  e.g. {sample}")
        for line in flatness(intervals):
            print(line)
        deadline = time.monotonic() + 90
        report = run_check(stack.env)
        while time.monotonic() < deadline and _jobs_running(report):
            time.sleep(3)
            report = run_check(stack.env)
        print("after the soak:", json.dumps(report, indent=None))
        for name in stack.pids:
            tail = procs.log_tail(name, 400, errors_only=True)
            if "Traceback" in tail:
                print(f"--- {name}: tracebacks in its log ---\n{tail[-3000:]}")
    return 0


def _jobs_running(report: dict[str, Any]) -> bool:
    jobs = report.get("jobs", {})
    return any(status in jobs for status in ("queued", "submitted", "running", "storing"))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    os._exit(130)
