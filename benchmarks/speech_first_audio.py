"""Read aloud: time to first audio for a 3,000-character reply through Parlor, next to the
demo gateway's own time to first byte for the same first part (a direct request).

    python benchmarks/speech_first_audio.py              # 7 runs
    python benchmarks/speech_first_audio.py --runs 15 --json benchmarks/results/speech.json

Parlor runs as it is deployed (`manage.py serve`: daphne, SQLite in a temporary DATA_DIR) and
the demo gateway in a process of its own at its normal pace (150 ms + 0.05 ms per character
before the first byte). One run: the member presses "Read aloud" (POST of the plan, CSRF) and
GETs part 0, which Parlor buys and streams; the clock stops at the first audio byte. Then the
same text, voice and speed go straight to the gateway, and its first byte is timed. Each run
uses a new speed, so Parlor really buys (nothing comes from its store), and each text is
sent to the gateway once beforehand, so both timings find its audio already encoded. Goal:
Parlor's p50 within 1.2x the gateway's.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
API_KEY = "sk-demo"
GOAL = 1.2
GATEWAY_SCRIPT = """
import asyncio, sys
from demo_gateway.server import DemoGateway
async def main(port):
    gateway = DemoGateway(port=port, api_key="sk-demo")
    await gateway.start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main(int(sys.argv[1])))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reply_text(chars: int = 3000) -> str:
    sentences: list[str] = []
    i = 0
    while sum(len(s) + 1 for s in sentences) < chars:
        sentences.append(f"Sentence {i} of the reply explains one more point, calmly and clearly.")
        i += 1
    return " ".join(sentences)[:chars].rsplit(" ", 1)[0] + "."


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def prepare(data_dir: str, gateway_url: str) -> tuple[str, str, int, str]:
    """The database: a member, a conversation with a 3,000-character reply, and a session."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATA_DIR=data_dir,
        GATEWAY_BASE_URL=gateway_url,
        GATEWAY_API_KEY=API_KEY,
        SPEECH_FORMAT="mp3",
    )
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from accounts.models import Membership, Team, User
    from chat.models import Conversation, Message
    from usage.models import Price

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("reader", password=secrets.token_urlsafe(16))
    team = Team.objects.create(name="Bench")
    Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
    Price.objects.update_or_create(model="tts-1", defaults={"per_1k_characters": "0.015"})
    conversation = Conversation.objects.create(team=team, created_by=user, title="Bench")
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, content=reply_text()
    )
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    assert session.session_key is not None
    return session.session_key, str(conversation.pk), message.pk, message.content


def first_byte(client: httpx.Client, method: str, url: str, **kwargs) -> tuple[float, int]:
    started = time.perf_counter()
    with client.stream(method, url, **kwargs) as response:
        for chunk in response.iter_raw():
            if chunk:
                return time.perf_counter() - started, response.status_code
    return time.perf_counter() - started, response.status_code


def run(runs: int) -> dict:
    gateway_port, parlor_port = free_port(), free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    with tempfile.TemporaryDirectory() as data_dir:
        gateway = subprocess.Popen(
            [sys.executable, "-c", GATEWAY_SCRIPT, str(gateway_port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        parlor = None
        try:
            assert gateway.stdout is not None
            gateway.stdout.readline()
            session_key, conversation, message_id, _text = prepare(data_dir, gateway_url)
            env = {**os.environ, "PORT": str(parlor_port), "LOG_LEVEL": "WARNING"}
            parlor = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--no-migrate", "--port", str(parlor_port)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
            )
            base = f"http://127.0.0.1:{parlor_port}"
            wait_for(base + "/health/")
            from chat.models import Message
            from chat.speech import message_parts

            first_part = message_parts(Message.objects.get(pk=message_id))[0].text
            token = secrets.token_hex(16)
            cookies = {"sessionid": session_key, "csrftoken": token}
            headers = {"X-CSRFToken": token, "Referer": base + "/"}
            direct = httpx.Client(
                base_url=gateway_url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
            )
            through = httpx.Client(base_url=base, cookies=cookies, headers=headers, timeout=30)
            plan_url = f"/c/{conversation}/messages/{message_id}/speech/"
            parlor_times, gateway_times = [], []
            for i in range(runs + 1):  # the first run warms both up and is not counted
                speed = f"{1 + (i + 1) * 0.05:.2f}"
                body = {"model": "tts-1", "input": first_part, "voice": "alloy",
                        "speed": float(speed), "response_format": "mp3"}  # fmt: skip
                direct.post("/v1/audio/speech", json=body)  # the gateway encodes it once
                started = time.perf_counter()
                plan = through.post(plan_url, data={"voice": "alloy", "speed": speed})
                plan.raise_for_status()
                part_url = plan.json()["parts"][0]["url"]
                _part_first_byte, status = first_byte(through, "GET", part_url)
                parlor_time = time.perf_counter() - started
                assert status == 200, status
                gateway_time, status = first_byte(direct, "POST", "/v1/audio/speech", json=body)
                assert status == 200, status
                if i:
                    parlor_times.append(parlor_time)
                    gateway_times.append(gateway_time)
            direct.close()
            through.close()
        finally:
            for process in (parlor, gateway):
                if process is not None:
                    process.terminate()
                    process.wait(10)
    parlor_p50 = statistics.median(parlor_times)
    gateway_p50 = statistics.median(gateway_times)
    return {
        "runs": runs,
        "reply_characters": 3000,
        "first_part_characters": len(first_part),
        "parlor_ms": [round(t * 1000, 1) for t in parlor_times],
        "gateway_ms": [round(t * 1000, 1) for t in gateway_times],
        "parlor_p50_ms": round(parlor_p50 * 1000, 1),
        "gateway_p50_ms": round(gateway_p50 * 1000, 1),
        "ratio": round(parlor_p50 / gateway_p50, 3),
        "goal": GOAL,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = run(args.runs)
    print(f"3,000-character reply, first part {result['first_part_characters']} characters")
    print(f"gateway time to first byte, p50: {result['gateway_p50_ms']:8.1f} ms")
    print(f"Parlor time to first audio, p50: {result['parlor_p50_ms']:8.1f} ms")
    verdict = "within" if result["ratio"] <= GOAL else "OVER"
    print(f"ratio {result['ratio']:.2f} ({verdict} the {GOAL}x goal)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
