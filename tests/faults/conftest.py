"""The fault suite's world: its OWN PostgreSQL (initdb into a temporary directory, a free
port) and its OWN Redis (a free port), never the machine's; a fake gateway in this process
whose media polls can be switched to slow, 500 or a web page with a 200; and the scale stack
of benchmarks/scale.py (two web processes behind the proxy, two workers) on them.

Everything is started once for the session (the suite's time is mostly start-up) and the
scenarios run in order, each leaving the stack whole for the next."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.scale import ROOT, Stack, free_port, wait_for_port
from demo_gateway.scenarios import Reply, console_page
from demo_gateway.server import DemoGateway

# Media tasks of the fake gateway take this long (seconds): long enough to kill a worker
# in the middle, short enough for the whole suite to stay within its few minutes.
JOB_SECONDS = 6.0


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name) or f"/usr/local/bin/{name}"
    if not os.path.exists(path):
        pytest.skip(f"PostgreSQL's {name} is not installed")
    return path


class OwnPostgres:
    """initdb + pg_ctl in a temporary directory; as the `postgres` user when run as root
    (initdb refuses root)."""

    def __init__(self, base: Path) -> None:
        # Not under pytest's own temporary directory: the postgres user cannot enter that.
        self.dir = Path(tempfile.mkdtemp(prefix="parlor-faults-pg-"))
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/parlor"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = list(args)
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True)

    def init(self) -> None:
        if self.user:
            record = pwd.getpwnam(self.user)
            os.chown(self.dir, record.pw_uid, record.pw_gid)
        self._run(pg_bin("initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip
        self.start()
        self._run(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  "parlor")  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"),
                  "-o", options, "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "stop",
                  check=False)  # fmt: skip

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class OwnRedis:
    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = base / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class FaultGateway(DemoGateway):
    """The demo gateway; `fault` breaks its media polls (submits still answer): "slow"
    (SLOW_SECONDS before the answer), "500", "html_200"."""

    SLOW_SECONDS = 20.0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fault: str | None = None
        self.media.duration = JOB_SECONDS
        answer = self.media.answer

        def answer_with_faults(request, request_id, authorized, base):
            polled = "/fetch" in request.path or "list-by-condition" in request.path
            if polled and self.fault == "500":
                return Reply(500, b'{"error": {"message": "upstream is down"}}')
            if polled and self.fault == "html_200":
                return console_page()
            return answer(request, request_id, authorized, base)

        self.media.answer = answer_with_faults  # type: ignore[method-assign]

    async def _route(self, request, writer, keep_alive):  # type: ignore[no-untyped-def]
        polled = "/fetch" in request.path or "list-by-condition" in request.path
        if polled and self.fault == "slow":
            await asyncio.sleep(self.SLOW_SECONDS)
        return await super()._route(request, writer, keep_alive)

    def submits(self, prompt: str) -> int:
        return sum(
            1
            for r in list(self.requests)
            if "/submit/" in r.path and isinstance(r.json, dict) and prompt in str(r.json)
        )


class Driver:
    """tests/faults/driver.py in a process of its own, on the stack's database."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.driver"], cwd=ROOT, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        self.lock = threading.Lock()

    def __call__(self, command: str, **args: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        with self.lock:
            self.process.stdin.write(json.dumps({"command": command, "args": args}) + "\n")
            self.process.stdin.flush()
            answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise AssertionError(f"driver {command}: {answer['error']}\n{answer['trace']}")
        return answer["ok"]

    def retrying(self, command: str, seconds: float = 30.0, **args: Any) -> Any:
        """The command, asked again while the database comes back."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                return self(command, **args)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()  # type: ignore[union-attr]
            self.process.wait(10)


class World:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.postgres = OwnPostgres(base)
        self.redis = OwnRedis(base)
        self.gateway = FaultGateway(port=0, token_delay=0.01)
        self.stack: Stack
        self.driver: Driver
        self.seed: dict[str, Any] = {}

    def start(self) -> None:
        self.postgres.init()
        self.redis.start()
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self.gateway._loop = loop
            loop.run_until_complete(self.gateway.start())
            ready.set()
            loop.run_forever()

        self.gateway._thread = threading.Thread(target=serve, daemon=True)
        self.gateway._thread.start()
        ready.wait(10)
        self.stack = Stack(
            database_url=self.postgres.url,
            redis_url=self.redis.url,
            data_dir=self.base / "data",
            port=free_port(),
            gateway_url=self.gateway.base_url,
            gateway_key=self.gateway.api_key,
            quiet=True,
            env={"REDIS_PREFIX": "faults", "GATEWAY_READ_TIMEOUT": "30"},
        )
        self.stack.start()
        self.driver = Driver(self.stack.child_env())
        self.seed = self.driver("seed")

    def stop(self) -> None:
        for step in (
            lambda: self.driver.close(),
            lambda: self.stack.stop(),
            lambda: self.gateway.stop_thread(),
            lambda: self.redis.stop(),
            lambda: self.postgres.remove(),
        ):
            try:
                step()
            except Exception as exc:  # stop everything else all the same
                print(f"stopping: {exc}", file=sys.stderr)

    def worker_pids(self) -> dict[str, int]:
        return {
            name: process.pid
            for name, process in self.stack.processes.items()
            if name.startswith("worker-") and process.poll() is None
        }

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted((self.base / "data").glob("*.log"))
        )


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("faults")
    world = World(base)
    try:
        world.start()
        yield world
    except BaseException:
        print(world.logs(), file=sys.stderr)
        raise
    finally:
        world.stop()


def recovery(name: str, seconds: float) -> None:
    print(f"\nRECOVERY {name} {seconds:.1f}s", flush=True)


def wait_until(predicate, seconds: float, step: float = 0.25, what: str = "") -> float:
    """Seconds until `predicate()` is true; fails past `seconds`."""
    start = time.monotonic()
    while True:
        try:
            if predicate():
                return time.monotonic() - start
        except AssertionError:
            pass
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(step)


__all__ = ["JOB_SECONDS", "World", "recovery", "signal", "wait_until"]
