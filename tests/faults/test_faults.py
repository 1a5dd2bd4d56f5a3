"""Killing parts of a running scale-mode site (`make test-faults`): each scenario breaks one
thing, waits for the site to recover, prints how long that took ("RECOVERY name 7.2s") and
checks that nothing was lost or doubled: every job submitted once, finished once, charged
once; the ledger balances (spent + reserved = the usage records); every message kept.

The scenarios share one stack (tests/faults/conftest.py) and run in order."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.request

import pytest
import redis
import websockets

from tests.faults.conftest import JOB_SECONDS, World, recovery, wait_until

pytestmark = pytest.mark.faults


def job(world: World, job_id: str) -> dict:
    return next(row for row in world.driver.retrying("jobs") if row["id"] == job_id)


def new_job(world: World, prompt: str, conversation: bool = False) -> str:
    seed = world.seed
    extra = {"conversation": seed["conversation"]} if conversation else {}
    return world.driver.retrying(
        "create_job", user=seed["user"], team=seed["team"], prompt=prompt, **extra
    )


def assert_whole(world: World, *jobs: tuple[str, str]) -> None:
    """Each (job id, prompt) succeeded, was submitted once and charged once; the ledger
    balances."""
    check = world.driver.retrying("check", team=world.seed["team"])
    assert check["doubled_job_charges"] == []
    for job_id, prompt in jobs:
        row = job(world, job_id)
        assert row["status"] == "succeeded", row
        assert world.gateway.submits(prompt) == 1, prompt


def finished(world: World, job_id: str) -> bool:
    return job(world, job_id)["status"] == "succeeded"


def card(world: World, job_id: str) -> str:
    request = urllib.request.Request(  # noqa: S310  # http://127.0.0.1 of the stack
        f"{world.stack.url}/studio/jobs/{job_id}/card/",
        headers={"Cookie": f"sessionid={world.seed['sessionid']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return answer.read().decode()


def ws_url(world: World) -> str:
    return f"ws://127.0.0.1:{world.stack.port}/ws/chat/{world.seed['conversation']}/"


def ws_headers(world: World) -> dict[str, str]:
    return {
        "Cookie": f"sessionid={world.seed['sessionid']}",
        "Origin": f"http://127.0.0.1:{world.stack.port}",
    }


async def connect(world: World):
    return await websockets.connect(
        ws_url(world), additional_headers=ws_headers(world), open_timeout=5
    )


async def receive_until(socket, text: str, seconds: float) -> str:
    async with asyncio.timeout(seconds):
        while True:
            frame = await socket.recv()
            if text in frame:
                return frame


def test_the_stack_is_up(world: World):
    assert world.stack.healthy(), world.logs()


def test_a_worker_killed_mid_poll_leaves_its_job_to_the_other(world: World):
    prompt = "fault a: a lighthouse"
    job_id = new_job(world, prompt)
    wait_until(lambda: job(world, job_id)["upstream_id"], 20, what="submitted")
    world.gateway.SLOW_SECONDS = 3.0  # each poll holds its lease for 3 s: kill inside one
    world.gateway.fault = "slow"
    owner = ""

    def leased() -> bool:
        nonlocal owner
        owner = job(world, job_id)["lease_owner"]
        return bool(owner)

    wait_until(leased, 30, step=0.1, what="a worker polls the job")
    pid = int(owner.rsplit(":", 1)[1])
    name = next(n for n, p in world.worker_pids().items() if p == pid)
    world.stack.kill(name, signal.SIGKILL)
    killed = time.monotonic()
    world.gateway.fault = None
    wait_until(lambda: finished(world, job_id), 40, what="the other worker finishes it")
    took = time.monotonic() - killed
    recovery("worker-kill", took)
    world.stack.start_worker(int(name.rsplit("-", 1)[1]) - 1)
    assert_whole(world, (job_id, prompt))
    assert took < 30 + 3


def test_both_workers_killed_and_one_started_polls_with_no_message_from_anyone(world: World):
    for name in list(world.worker_pids()):
        world.stack.kill(name, signal.SIGKILL)
    prompt = "fault b: a harbour at night"
    job_id = new_job(world, prompt)
    redis.Redis(port=world.redis.port).flushall()  # the create's wake: nobody's message now
    world.stack.start_worker(0)
    started = time.monotonic()
    wait_until(lambda: job(world, job_id)["upstream_id"], 30, what="the new worker polls")
    recovery("workers-restart", time.monotonic() - started)
    wait_until(lambda: finished(world, job_id), JOB_SECONDS + 30, what="the job finishes")
    world.stack.start_worker(1)
    assert_whole(world, (job_id, prompt))


def test_a_redis_restart_keeps_the_workers_and_the_sockets_come_back(world: World):
    async def scenario() -> tuple[float, int | None, int]:
        socket = await connect(world)
        before = new_job(world, "fault c: before the restart", conversation=True)
        world.redis.stop()
        try:  # a tab connecting meanwhile is refused cleanly, never with a 500
            refused = await connect(world)
            await refused.close()
            status = 101
        except websockets.InvalidStatus as exc:
            status = exc.response.status_code
        await asyncio.sleep(1)
        world.redis.start()
        back = time.monotonic()
        code = None
        try:
            async with asyncio.timeout(20):
                async for _frame in socket:
                    pass
        except (TimeoutError, websockets.ConnectionClosed):
            pass
        code = socket.close_code
        await socket.close()
        while True:  # the tab reconnecting, as the htmx extension does
            try:
                socket = await connect(world)
                break
            except (OSError, websockets.InvalidStatus, TimeoutError):
                await asyncio.sleep(0.5)
        after = new_job(world, "fault c: after the restart", conversation=True)
        await receive_until(socket, f'data-job-changed="{after.replace("-", "")}"', 30)
        reconnected = time.monotonic() - back  # and its groups joined again: a push arrived
        await socket.close()
        wait_until(lambda: finished(world, before) and finished(world, after), 40,
                   what="both jobs finish")  # fmt: skip
        return reconnected, code, status

    reconnected, code, status = asyncio.run(scenario())
    print(f"a handshake while Redis was down was answered {status}", flush=True)
    assert status == 403
    recovery("redis-restart-socket", reconnected)
    print(f"the socket was closed with {code} by the restart", flush=True)
    assert code in (1006, 1011, 1012, 1013)  # closed, so the tab reconnects: never left deaf
    assert set(world.worker_pids()) == {"worker-1", "worker-2"}, world.logs()
    assert all(world.stack.alive(name) for name in ("web-1", "web-2"))
    rows = [r for r in world.driver.retrying("jobs") if r["prompt"].startswith("fault c")]
    assert_whole(world, *((r["id"], r["prompt"]) for r in rows))


def test_a_postgres_restart_and_chat_and_jobs_go_on(world: World):
    world.postgres.stop("fast")
    time.sleep(1)
    world.postgres.start()
    back = time.monotonic()

    async def chat() -> None:
        while True:
            try:
                socket = await connect(world)
                break
            except (OSError, websockets.InvalidStatus, TimeoutError):
                await asyncio.sleep(0.5)
        payload = {"action": "send", "text": "fault d: hello again", "HEADERS": {}}
        await socket.send(json.dumps(payload))
        await receive_until(socket, 'data-message-status="complete"', 30)
        await socket.close()

    asyncio.run(chat())
    recovery("postgres-restart-chat", time.monotonic() - back)
    prompt = "fault d: after the database restart"
    job_id = new_job(world, prompt)
    wait_until(lambda: finished(world, job_id), JOB_SECONDS + 30, what="a job finishes")
    recovery("postgres-restart-job", time.monotonic() - back)
    messages = world.driver.retrying("check", team=world.seed["team"])["messages"]
    sent = [m for m in messages if m["text"] == "fault d: hello again"]
    assert len(sent) == 1
    replies = [m for m in messages if m["id"] > sent[0]["id"] and m["role"] == "assistant"]
    assert len(replies) == 1 and replies[0]["status"] == "complete", messages
    assert_whole(world, (job_id, prompt))


def test_a_failing_gateway_shows_on_the_card_and_jobs_finish_after_it(world: World):
    prompt = "fault e: a storm"
    job_id = new_job(world, prompt)
    wait_until(lambda: job(world, job_id)["upstream_id"], 20, what="submitted")
    failures = 0
    for fault, seconds in (("500", 8), ("html_200", 6)):
        world.gateway.fault = fault
        wait_until(lambda seen=failures: job(world, job_id)["poll_failures"] >= seen + 2,
                   seconds + 10, what=f"polls fail ({fault})")  # fmt: skip
        failures = job(world, job_id)["poll_failures"]
        assert "reach the gateway since" in card(world, job_id)
    world.gateway.SLOW_SECONDS = 20.0
    world.gateway.fault = "slow"  # past the poller's 15 s a poll counts as unanswered
    wait_until(lambda: job(world, job_id)["poll_failures"] > failures, 25,
               what="a slow poll counts as unanswered")  # fmt: skip
    world.gateway.fault = None
    back = time.monotonic()
    wait_until(lambda: finished(world, job_id), 30, what="the job finishes")
    recovery("gateway-outage", time.monotonic() - back)
    assert job(world, job_id)["poll_failures"] == 0
    assert "reach the gateway since" not in card(world, job_id)
    assert_whole(world, (job_id, prompt))


def test_a_web_process_killed_mid_reply_ends_it_interrupted_with_its_text(world: World):
    """The tab on web-1 asks for a long reply; web-1 is killed mid-stream; the tab reconnects
    through the proxy (to web-2) and sees the reply interrupted, with the text it had."""
    text = "fault f: tell me a long story [demo:fixed_tokens:3000]"
    direct = f"ws://127.0.0.1:{world.stack.web_ports[0]}/ws/chat/{world.seed['conversation']}/"

    async def scenario() -> float:
        port = world.stack.web_ports[0]
        headers = {**ws_headers(world), "Origin": f"http://127.0.0.1:{port}"}
        socket = await websockets.connect(direct, additional_headers=headers)
        payload = {"action": "send", "text": text, "HEADERS": {}}
        await socket.send(json.dumps(payload))
        await receive_until(socket, 'data-message-status="streaming"', 20)
        await asyncio.sleep(6)  # past one checkpoint (STREAM_CHECKPOINT_SECONDS)
        world.stack.kill("web-1", signal.SIGKILL)
        killed = time.monotonic()
        socket = await connect(world)  # the proxy skips the dead process
        deadline = killed + 32  # the goal is 30 s; the suite has a time budget
        while time.monotonic() < deadline:
            await socket.send(json.dumps({"action": "sync", "HEADERS": {}}))
            try:
                await receive_until(socket, 'data-message-status="interrupted"', 3)
                break
            except TimeoutError:
                continue
        await socket.close()
        return time.monotonic() - killed

    try:
        took = asyncio.run(scenario())
        recovery("web-kill-reply", took)
        messages = world.driver.retrying("check", team=world.seed["team"])["messages"]
        asked = [m for m in messages if m["text"] == text[:80]]
        assert len(asked) == 1
        reply = next(m for m in messages if m["id"] > asked[0]["id"] and m["role"] == "assistant")
        assert reply["status"] == "interrupted" and reply["text"], reply
        assert took < 30
    finally:
        if not world.stack.alive("web-1"):
            world.stack.start_web(0)
