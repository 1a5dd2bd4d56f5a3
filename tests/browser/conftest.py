"""Browser tests: the real `manage.py serve` (daphne + the built-in demo gateway, exactly what
`make run` starts) on a fresh data directory, driven by Playwright in Debian's Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-results"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback)
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(url)


@contextlib.contextmanager
def running(args: list[str], env: dict[str, str], log_path: Path, ready_url: str):
    """Run a process of ours until the block ends; print its log tail when it does."""
    log = open(log_path, "w+")  # noqa: SIM115
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(ready_url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.seek(0)
        print(log.read()[-4000:])
        log.close()


def parlor_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLOR_", "GATEWAY_"))}
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    env["PARLOR_DATA_DIR"] = str(data_dir)
    # Each Parlor gets its own demo gateway port; processes sharing one env share its gateway.
    env["PARLOR_DEMO_GATEWAY_PORT"] = str(_free_port())
    # A default demo reply streams in ~3 s instead of ~8 s; `[demo:slow]` is ten times slower.
    env["PARLOR_DEMO_GATEWAY_TOKEN_DELAY"] = "0.01"
    env.update(extra)
    return env


_migrated: dict[str, Path] = {}  # the database every `serve` starts from, made once a process


def _migrated_database(tmp_path_factory) -> Path:
    """An empty database with every migration applied. Migrating from nothing takes about
    8 s on a small machine, once per server; `serve` starts from a copy instead, and its own
    migrate finds nothing to do. (The restart test still starts from an empty directory.)"""
    if "path" not in _migrated:
        data = tmp_path_factory.mktemp("parlor-migrated")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"],
            cwd=ROOT,
            env=parlor_env(data),
            check=True,
        )
        _migrated["path"] = data / "parlor.sqlite3"
    return _migrated["path"]


def serve(tmp_path_factory, **env: str):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    data = tmp_path_factory.mktemp("parlor-data")
    with (
        contextlib.closing(sqlite3.connect(_migrated_database(tmp_path_factory))) as source,
        contextlib.closing(sqlite3.connect(data / "parlor.sqlite3")) as copy,
    ):
        source.backup(copy)  # whole, WAL included
    return url, running(args, parlor_env(data, **env), data / "serve.log", url + "/health/")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """A fresh Parlor per test module on a free port, exactly as `make run` starts it; no
    users yet."""
    url, server = serve(tmp_path_factory)
    with server:
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                # A microphone that beeps, granted without asking (voice input's tests).
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield browser
        browser.close()


# Console errors allowed, as (test name part, message part); anything else fails the test.
# A form posted with an error is answered 400 with the form again (Django's way: the page is
# complete and usable), and Chromium logs every 4xx as a failed resource. The restart test
# stops the server on purpose: Chromium logs the refused reconnections, and the ws extension
# the socket's error event, which no page code can prevent.
CONSOLE_ALLOWED: list[tuple[str, str]] = [
    ("", "the server responded with a status of 400 (Bad Request)"),
    ("test_a_tab_survives_a_restart", "net::ERR_CONNECTION_REFUSED"),
    ("test_a_tab_survives_a_restart", "console: [object Event]"),
    # It opens a revoked public link on purpose: the page is a 404.
    ("test_folders_archive_and_a_public_link", "status of 404 (Not Found) (http://127.0.0.1"),
]


def _watch(page, errors: list[str]) -> None:
    def on_console(msg) -> None:
        if msg.type == "error":
            errors.append(f"console: {msg.text} ({page.url})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc} ({page.url})"))


@pytest.fixture(autouse=True)
def no_console_errors(request, browser):
    """Every page any browser test opens (in any context it makes) is watched: a console
    error or an uncaught exception fails the test at teardown."""
    errors: list[str] = []
    contexts: list = []
    new_context = browser.new_context

    def watched_context(*args, **kwargs):
        context = new_context(*args, **kwargs)
        contexts.append(context)
        context.on("page", lambda page: _watch(page, errors))
        return context

    browser.new_context = watched_context
    request.node.console_errors = errors
    try:
        yield errors
    finally:
        browser.new_context = new_context
    allowed = [
        e for e in errors if not any(n in request.node.name and m in e for n, m in CONSOLE_ALLOWED)
    ]
    assert not allowed, "console errors:\n" + "\n".join(allowed)


@pytest.fixture
def page(browser, no_console_errors):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    page = context.new_page()
    page.console_errors = no_console_errors
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
