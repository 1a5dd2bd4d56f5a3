"""Poller benchmark: 1,000 media jobs in flight, Parlor's batching poller next to a naive
per-job 3-second loop, in the same run, against the same demo gateway.

    python benchmarks/poller.py                 # 1,000 jobs, 30 s - 10 min each, time x10
    python benchmarks/poller.py --jobs 100 --speed 20

Time is compressed by `--speed` everywhere at once, so the system behaves as it would in
real time, only faster: the demo gateway (its own process, so its CPU is not counted) runs
its media clock `speed` times faster, and the poller's spacings (first poll 2 s, back-off
ceiling 15 s, minimum pass spacing 2 s, deadline) and the naive loop's 3 s are divided by
`speed`. Rates are reported per *simulated* minute and latencies in simulated seconds.
CPU is the harness process's own (poller + SQLite + the channel layer), per simulated minute.

Jobs are a third each Midjourney, Suno and Luma, with durations spread evenly from 30 s to
600 s (`[demo:duration:N]`). Copying results into storage is switched off (downloads are
not what is measured here). Nothing is asserted; the table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
API_KEY = "sk-demo"
KINDS = (("midjourney", "IMAGINE"), ("suno", "MUSIC"), ("luma", "GENERATE"))
NAIVE_SECONDS = 3.0
NAIVE_IN_FLIGHT = 100
GATEWAY_SCRIPT = """
import asyncio, sys, time
from demo_gateway.server import DemoGateway
async def main(port, speed):
    gateway = DemoGateway(port=port, api_key="sk-demo")
    start = time.monotonic()
    gateway.media.clock = lambda: start + (time.monotonic() - start) * speed
    await gateway.start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main(int(sys.argv[1]), float(sys.argv[2])))
"""


@dataclass
class Phase:
    name: str
    requests: int = 0
    submits: int = 0
    writes: int = 0
    state_changes: int = 0
    sim_minutes: float = 0.0
    cpu_seconds: float = 0.0
    rss_peak_mb: float = 0.0
    latencies: list[float] = field(default_factory=list)  # simulated seconds
    latencies_no_luma: list[float] = field(default_factory=list)
    finished: int = 0
    errors: int = 0  # gateway calls that failed (the naive loop overflowing the pool)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_django(data_dir: str, base_url: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATA_DIR=data_dir,
        GATEWAY_BASE_URL=base_url,
        GATEWAY_API_KEY=API_KEY,
        DEBUG="False",
        SECRET_KEY="bench-" + "x" * 50,
    )
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Counters:
    """Gateway requests (a counting transport) and DB writes (an execute wrapper on every
    connection), switched between phases."""

    def __init__(self) -> None:
        self.phase: Phase | None = None

    def transport(self):
        import httpx

        counters = self

        class Counting(httpx.AsyncHTTPTransport):
            async def handle_async_request(self, request):
                if counters.phase is not None:
                    counters.phase.requests += 1
                    if request.method == "POST" and any(
                        part in request.url.path for part in ("/submit/", "/generations")
                    ):
                        counters.phase.submits += 1
                return await super().handle_async_request(request)

        return Counting()

    def install_db_counter(self) -> None:
        from django.db.backends.signals import connection_created

        counters = self

        def wrapper(execute, sql, params, many, context):
            if counters.phase is not None and sql.lstrip().upper().startswith(("UPDATE", "INSERT")):
                counters.phase.writes += 1
            return execute(sql, params, many, context)

        def on_connect(sender, connection, **kwargs):
            connection.execute_wrappers.append(wrapper)

        connection_created.connect(on_connect, weak=False)
        from django.db import connections

        for connection in connections.all():
            if connection.connection is not None:
                connection.execute_wrappers.append(wrapper)


def scale_time(speed: float) -> None:
    from datetime import timedelta

    from media_jobs import models, poller

    models.POLL_FIRST_SECONDS = 2.0 / speed
    models.POLL_MAX_SECONDS = 15.0 / speed
    models.DEFAULT_DEADLINE = timedelta(minutes=20) / speed
    poller.IDLE_SECONDS = 15.0 / speed
    poller.MIN_PASS_SECONDS = 2.0 / speed


def make_jobs(count: int, tag: str) -> list:
    from accounts.models import Membership, Team, User
    from media_jobs.models import MediaJob

    user, _ = User.objects.get_or_create(username="bench")
    team, _ = Team.objects.get_or_create(name="Bench")
    Membership.objects.get_or_create(team=team, user=user, defaults={"role": "owner"})
    jobs = []
    for i in range(count):
        kind, action = KINDS[i % 3]
        seconds = 30 + (570 * i) // max(1, count - 1)
        prompt = f"{tag} {i} [demo:duration:{seconds}]"
        params = {"description": prompt} if kind == "suno" else {}
        jobs.append(
            MediaJob(
                team=team,
                created_by=user,
                kind=kind,
                action=action,
                prompt=prompt,
                params=params,
                next_poll_at=None,
            )
        )
    return MediaJob.objects.bulk_create(jobs)


def hook_phase(counters: Counters, phase: Phase, speed: float, started: dict) -> None:
    """Count state changes (transitions that wrote) and completion-to-push latency."""
    from media_jobs import live
    from media_jobs.models import MediaJob

    original_apply = MediaJob._apply
    original_submitted = MediaJob.mark_submitted

    def _apply(self, changes):
        changed = original_apply(self, changes)
        if changed and counters.phase is phase:
            phase.state_changes += 1
        return changed

    def mark_submitted(self, upstream_id, *, now=None):
        started[self.pk] = time.monotonic()
        if counters.phase is phase:
            phase.state_changes += 1
        return original_submitted(self, upstream_id, now=now)

    async def apush_job(job):
        if job.is_finished and counters.phase is phase:
            phase.finished += 1
            seconds = int(job.prompt.rsplit(":", 1)[1].rstrip("]"))
            done_at = started.get(job.pk, time.monotonic()) + seconds / speed
            phase.latencies.append(max(0.0, time.monotonic() - done_at) * speed)
            if job.kind != "luma":
                phase.latencies_no_luma.append(phase.latencies[-1])

    MediaJob._apply = _apply  # type: ignore[method-assign]
    MediaJob.mark_submitted = mark_submitted  # type: ignore[method-assign]
    live.apush_job = apush_job  # type: ignore[assignment]


async def run_parlor(count: int, speed: float, counters: Counters) -> Phase:
    from channels.db import database_sync_to_async

    from media_jobs import poller, storage
    from media_jobs.models import MediaJob

    phase = Phase("parlor")
    storage.store_results = _no_copy  # type: ignore[assignment]
    hook_phase(counters, phase, speed, {})
    jobs = await database_sync_to_async(make_jobs)(count, "parlor")
    ids = [job.pk for job in jobs]
    await MediaJob.objects.filter(pk__in=ids).aupdate(next_poll_at=_now())
    counters.phase = phase
    t0, c0 = time.monotonic(), cpu()
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run_poller("bench", stop=stop))
    while await MediaJob.objects.filter(pk__in=ids, status__in=MediaJob.ACTIVE).aexists():
        phase.rss_peak_mb = max(phase.rss_peak_mb, rss_mb())
        await asyncio.sleep(0.2)
    stop.set()
    poller.wake_local()
    await task
    phase.cpu_seconds, phase.sim_minutes = cpu() - c0, (time.monotonic() - t0) * speed / 60
    counters.phase = None
    return phase


async def run_naive(count: int, speed: float, counters: Counters) -> Phase:
    """Each job its own coroutine: submit, then every 3 s fetch it alone and write what moved."""
    from channels.db import database_sync_to_async

    from gateway import luma, midjourney, suno
    from gateway.errors import GatewayError
    from media_jobs import live, poller

    phase = Phase("naive 3 s")
    started: dict = {}
    hook_phase(counters, phase, speed, started)
    jobs = await database_sync_to_async(make_jobs)(count, "naive")
    fetch = {"midjourney": midjourney.fetch, "suno": suno.fetch, "luma": luma.fetch}
    db = database_sync_to_async

    # At most this many requests in flight, like a browser's connection limit; 1,000
    # coroutines all waiting on the client's pool starve it.
    in_flight = asyncio.Semaphore(NAIVE_IN_FLIGHT)

    async def one(job) -> None:
        while not job.upstream_id:
            try:
                async with in_flight:
                    submitted = await poller.submit_upstream(job)
            except GatewayError:  # the connection pool is full: try again, as a loop would
                phase.errors += 1
                continue
            await db(job.mark_submitted)(submitted.task_id)
        while job.is_active:
            await asyncio.sleep(NAIVE_SECONDS / speed)
            try:
                async with in_flight:
                    status = await fetch[job.kind](job.upstream_id)
            except GatewayError:
                phase.errors += 1
                continue
            if await db(poller.apply_status)(job, status):
                await live.apush_job(job)

    counters.phase = phase
    t0, c0 = time.monotonic(), cpu()
    sampler = asyncio.create_task(_sample_rss(phase))
    await asyncio.gather(*(one(job) for job in jobs))
    sampler.cancel()
    phase.cpu_seconds, phase.sim_minutes = cpu() - c0, (time.monotonic() - t0) * speed / 60
    counters.phase = None
    return phase


async def _sample_rss(phase: Phase) -> None:
    while True:
        phase.rss_peak_mb = max(phase.rss_peak_mb, rss_mb())
        await asyncio.sleep(0.2)


async def _no_copy(job) -> list[str]:
    return []


def _now():
    from django.utils import timezone

    return timezone.now()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(phases: list[Phase], count: int, speed: float) -> str:
    rows = [
        ("jobs finished", lambda p: f"{p.finished}/{count}"),
        ("gateway requests / sim. minute", lambda p: f"{p.requests / p.sim_minutes:.0f}"),
        ("  of which submits (total)", lambda p: f"{p.submits}"),
        (
            "polls / sim. minute (no submits)",
            lambda p: f"{(p.requests - p.submits) / p.sim_minutes:.0f}",
        ),
        ("state changes", lambda p: f"{p.state_changes}"),
        ("DB writes (UPDATE+INSERT)", lambda p: f"{p.writes}"),
        ("DB writes per state change", lambda p: f"{p.writes / max(1, p.state_changes):.2f}"),
        ("CPU s / sim. minute", lambda p: f"{p.cpu_seconds / p.sim_minutes:.2f}"),
        ("CPU s total", lambda p: f"{p.cpu_seconds:.1f}"),
        ("peak RSS MB", lambda p: f"{p.rss_peak_mb:.0f}"),
        ("completion->push p50 (sim. s)", lambda p: f"{percentile(p.latencies, 0.5):.1f}"),
        ("completion->push p95 (sim. s)", lambda p: f"{percentile(p.latencies, 0.95):.1f}"),
        ("  same, MJ+Suno only p95", lambda p: f"{percentile(p.latencies_no_luma, 0.95):.1f}"),
        ("gateway errors", lambda p: f"{p.errors}"),
        ("simulated minutes", lambda p: f"{p.sim_minutes:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{count} jobs, 30 s - 10 min, time x{speed:g}",
             f"{'':{width}}  " + "  ".join(f"{p.name:>12}" for p in phases)]  # fmt: skip
    for name, cell in rows:
        lines.append(f"{name:{width}}  " + "  ".join(f"{cell(p):>12}" for p in phases))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args(argv)
    port = free_port()
    gateway = subprocess.Popen(
        [sys.executable, "-c", GATEWAY_SCRIPT, str(port), str(args.speed)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert gateway.stdout is not None and gateway.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory() as data_dir:
            setup_django(data_dir, f"http://127.0.0.1:{port}")
            from gateway.client import use_transport

            counters = Counters()
            counters.install_db_counter()
            scale_time(args.speed)
            phases = []

            async def both() -> None:
                phases.append(await run_parlor(args.jobs, args.speed, counters))
                print(table(phases, args.jobs, args.speed), flush=True)
                if not args.skip_naive:
                    phases.append(await run_naive(args.jobs, args.speed, counters))

            with use_transport(counters.transport()):
                asyncio.run(both())
            print(table(phases, args.jobs, args.speed))
    finally:
        gateway.terminate()
        gateway.wait(10)


if __name__ == "__main__":
    main()
