"""Scale mode on one machine, without containers: `make scale-up`.

Starts, on PostgreSQL and Redis: two web processes (`manage.py serve`) behind the round-robin
TCP proxy of benchmarks/proxy.py (websockets pass through it), two media workers (`manage.py
runworker media-jobs`) and the demo gateway, each its own process; Ctrl-C stops them all.

    python benchmarks/scale.py                      # the machine's PostgreSQL and Redis
    DATABASE_URL=postgres://... REDIS_URL=redis://... python benchmarks/scale.py --port 8000

Without DATABASE_URL it uses postgres://postgres@127.0.0.1:5432/parlor_scale (created if
missing), without REDIS_URL redis://127.0.0.1:6379/0; GATEWAY_BASE_URL (with
GATEWAY_API_KEY) replaces the demo gateway. Files and the secret key go to --data-dir.

The fault suite (tests/faults) drives the same `Stack`: it kills and restarts its processes.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/parlor_scale"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {seconds:g} s")


def ensure_database(database_url: str) -> None:
    """Create the database of a postgres:// URL if it does not exist (psycopg, as Parlor)."""
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


@dataclass
class Stack:
    database_url: str
    redis_url: str
    data_dir: Path
    port: int = 8000  # the proxy's: the address to open
    webs: int = 2
    workers: int = 2
    gateway_url: str = ""  # empty: start the demo gateway
    gateway_key: str = "sk-demo"
    env: dict[str, str] = field(default_factory=dict)  # more settings for every process
    quiet: bool = False  # logs to files in data_dir instead of this terminal
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    web_ports: list[int] = field(default_factory=list)

    # --- processes ---------------------------------------------------------------------

    def child_env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DATA_DIR": str(self.data_dir),
            "GATEWAY_BASE_URL": self.gateway_url,
            "GATEWAY_API_KEY": self.gateway_key,
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        return env

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        out = None
        if self.quiet:
            out = open(self.data_dir / f"{name}.log", "ab")  # noqa: SIM115  # the child's
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=self.child_env(),
            stdout=out, stderr=subprocess.STDOUT if out else None,
            start_new_session=True,  # Ctrl-C reaches them through stop(), in order
        )  # fmt: skip
        self.processes[name] = process
        return process

    def start_gateway(self) -> None:
        port = free_port()
        self.spawn("gateway", "-m", "demo_gateway", "--port", str(port), "--token-delay", "0.02")
        wait_for_port(port)
        self.gateway_url = f"http://127.0.0.1:{port}"

    def start_web(self, index: int) -> None:
        port = self.web_ports[index]
        self.spawn(f"web-{index + 1}", "manage.py", "serve", "--no-migrate", "--port", str(port))

    def start_worker(self, index: int) -> None:
        self.spawn(f"worker-{index + 1}", "manage.py", "runworker", "media-jobs")

    def start_proxy(self) -> None:
        backends = [arg for p in self.web_ports for arg in ("--backend", f"127.0.0.1:{p}")]
        self.spawn("proxy", "benchmarks/proxy.py", "--listen", f"127.0.0.1:{self.port}",
                   *backends)  # fmt: skip

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.gateway_url:
            self.start_gateway()
        migrate = [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"]
        subprocess.run(migrate, cwd=ROOT, env=self.child_env(), check=True)
        self.web_ports = [free_port() for _ in range(self.webs)]
        for index in range(self.webs):
            self.start_web(index)
        for index in range(self.workers):
            self.start_worker(index)
        self.start_proxy()
        for port in self.web_ports:
            wait_for_port(port, 60)
        wait_for_port(self.port)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(30)

    def alive(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def stop(self) -> None:
        """Web and workers first (their shutdown closes what they hold), the rest after."""
        order = sorted(self.processes, key=lambda n: n.startswith(("proxy", "gateway")))
        for name in order:
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for name in order:
            process = self.processes.pop(name)
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health/", timeout=5) as answer:  # noqa: S310
                return answer.status == 200
        except OSError:
            return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--webs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "scale")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not os.environ.get("DATABASE_URL"):
        ensure_database(database_url)
    stack = Stack(
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL,
        data_dir=args.data_dir.resolve(),
        port=args.port,
        webs=args.webs,
        workers=args.workers,
        gateway_url=os.environ.get("GATEWAY_BASE_URL", ""),
        gateway_key=os.environ.get("GATEWAY_API_KEY", "sk-demo"),
    )
    # `kill` stops the children too, as Ctrl-C does (SIGINT too: a shell's `&` ignores it).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        stack.start()
        names = ", ".join(stack.processes)
        print(f"\nScale mode is up: open {stack.url}/  ({names}; Ctrl+C stops all)\n", flush=True)
        while all(stack.alive(name) for name in list(stack.processes)):
            time.sleep(1)
        gone = [name for name in stack.processes if not stack.alive(name)]
        print(f"{', '.join(gone)} stopped; stopping the rest", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
