"""Scale mode as operators run it: PostgreSQL, Redis and two daphne processes. A reply asked
for in a tab on one process is followed live by a tab on the other."""

from __future__ import annotations

import contextlib
import subprocess
import sys

import psycopg
import pytest
import redis
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, _free_port, parlor_env, running
from tests.browser.test_first_run_and_chat import _setup_or_login

pytestmark = pytest.mark.browser
DATABASE = "parlor_scale_browser"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/3"


@pytest.fixture(scope="module")
def scale_env(tmp_path_factory):
    try:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {DATABASE}")
        redis.Redis.from_url(REDIS).flushdb()
    except (psycopg.OperationalError, redis.ConnectionError) as exc:
        pytest.fail(
            f"scale mode needs PostgreSQL and Redis on 127.0.0.1 (.ci/run starts them): {exc}"
        )
    env = parlor_env(
        tmp_path_factory.mktemp("scale"),
        DATABASE_URL=f"{POSTGRES}/{DATABASE}",
        REDIS_URL=REDIS,
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    return env


@pytest.fixture(scope="module")
def two_servers(scale_env, tmp_path_factory):
    logs = tmp_path_factory.mktemp("scale-logs")
    urls = []
    with contextlib.ExitStack() as stack:
        for name in ("one", "two"):
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            args = [sys.executable, "manage.py", "serve", "--no-migrate", "--port", str(port)]
            stack.enter_context(running(args, scale_env, logs / f"{name}.log", url + "/health/"))
            urls.append(url)
        yield urls


def test_a_tab_on_another_process_follows_the_reply(browser, two_servers):
    one, two = two_servers
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        asking = context.new_page()
        _setup_or_login(asking, one)
        asking.get_by_role("button", name="New chat").first.click()
        expect(asking.get_by_label("Message")).to_be_visible()
        path = asking.url.removeprefix(one)

        watching = context.new_page()  # same session cookie: 127.0.0.1 on another port
        watching.goto(two + path)
        expect(watching.locator("#ws-status")).to_have_text("Connected")

        asking.get_by_label("Message").fill("Seen from the other process [demo:fixed_tokens:150]")
        asking.get_by_role("button", name="Send").click()

        followed = watching.locator('[data-message-role="assistant"]').last
        expect(watching.locator('[data-message-role="user"]').last).to_contain_text(
            "Seen from the other process", timeout=15_000
        )
        expect(followed).to_have_attribute("data-message-status", "streaming")
        expect(followed).to_have_attribute("data-message-status", "complete", timeout=60_000)
        asked = asking.locator('[data-message-role="assistant"]').last
        expect(asked).to_have_attribute("data-message-status", "complete")
        assert followed.inner_text() == asked.inner_text()
    finally:
        context.close()
