"""CPU and queries of a chat reply's charging: reserve_chat at the start, settle/refund at the end.

Run: .venv/bin/python benchmarks/reserve_cost.py [--calls 200] [--repeat 5] [--baseline REF]

All of it runs on the one database thread per process (inside begin_reply / finish_reply), so
in a burst of N sends it is paid N times in a row. Measured here in one process, on a fresh
SQLite database in a temporary DATA_DIR (WAL, as embedded mode runs it), warm, with
`time.process_time` around each call, each call in its own transaction as begin_reply's is.
Paths:

- reserve, first of month: each call is a new member's first reply of the month (the team's
  counter exists), the burst benchmark's case (one member per stream);
- reserve, steady state: the member's counters exist;
- reserve, refused: the member's cap is used up (the caller's transaction rolls back);
- settle: what UsageMeter.settle does for a complete reply with the gateway's usage
  (the pending record, then settle_chat);
- refund: what UsageMeter.refund does (the pending record, then refund).

`--baseline REF` loads usage/services.py as it is at the git commit REF next to the current one
(same process, same database, same models) and alternates their rounds, so load on the machine
hits both alike; the table then shows both and the ratio. Shown per path: the median call's
CPU over all rounds (a call preempted mid-way does not move it) and the mean of the best round.

It prints; it never asserts (tests/usage/test_services.py pins the query counts). Absolute
numbers depend on the machine and its load: compare columns of one run.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_data = tempfile.TemporaryDirectory(prefix="parlor-reserve-bench-")
os.environ["DATA_DIR"] = _data.name
os.environ.pop("DATABASE_URL", None)  # always a fresh SQLite database, never a shared server
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import Membership, Team, User  # noqa: E402
from chat.models import Conversation, Message  # noqa: E402
from gateway.types import Usage  # noqa: E402
from usage import services  # noqa: E402
from usage.models import MemberMonth, Price, TeamBudget  # noqa: E402
from usage.services import BudgetRefused  # noqa: E402

MODEL = "gpt-4o-mini"
CONTEXT = [{"role": "user", "content": "Tell me about the weather " * 8}]
CAP = Decimal(10**5)


def _load_baseline(ref: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{ref}:usage/services.py"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    path = Path(_data.name) / "services_baseline.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("usage_services_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _setup(users_needed: int) -> tuple[Team, list[User], Conversation]:
    call_command("migrate", verbosity=0)
    owner = User.objects.create_user(username="owner")
    team = Team.objects.create(name="Bench")
    Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
    User.objects.bulk_create([User(username=f"m{i}") for i in range(users_needed)])
    users = list(User.objects.filter(username__startswith="m").order_by("pk"))
    Membership.objects.bulk_create(
        [Membership(team=team, user=u, role=Membership.Role.MEMBER) for u in users]
    )
    Price.objects.create(
        model=MODEL, prompt_per_1k=Decimal("0.15"), completion_per_1k=Decimal("0.6")
    )
    Price.objects.create(
        model=Price.DEFAULT, prompt_per_1k=Decimal(1), completion_per_1k=Decimal(1)
    )
    TeamBudget.objects.create(
        team=team,
        monthly_limit=Decimal(10**7),
        member_monthly_cap=CAP,
        allowed_models={"member": [MODEL, "gpt-4o"]},
    )
    conversation = Conversation.objects.create(team=team, created_by=owner, title="b", model=MODEL)
    return team, users, conversation


class Bench:
    def __init__(self, svc: ModuleType, team: Team, users: list[User], conv: Conversation):
        self.svc, self.team, self.conversation = svc, team, conv
        self.free = iter(users)  # members with no counter yet this month

    def reserve(self, user: User, message: Message | None = None) -> Any:
        return self.svc.reserve_chat(
            team=self.team, user=user, role="member", model=MODEL, messages=CONTEXT,
            message=message,
        )  # fmt: skip

    def reserve_call(self, user: User) -> Callable[[], object]:
        def call() -> object:
            with transaction.atomic():  # begin_reply's transaction
                return self.reserve(user)

        return call

    def refused_call(self, user: User) -> Callable[[], object]:
        def call() -> None:
            try:
                with transaction.atomic():
                    self.reserve(user)
            except BudgetRefused:
                pass

        return call

    def reserved_message(self, user: User) -> Message:
        message = Message.objects.create(
            conversation=self.conversation,
            role=Message.Role.ASSISTANT,
            status="streaming",
            model=MODEL,
        )
        self.reserve(user, message)
        return message

    def _pending(self, message_id: int) -> Any:
        # UsageMeter's lookup, in the version being measured (before pending_reply_record, the
        # general pending_record).
        if hasattr(self.svc, "pending_reply_record"):
            return self.svc.pending_reply_record(message_id)
        return self.svc.pending_record(message_id=message_id)

    def settle_call(self, message: Message) -> Callable[[], object]:
        def call() -> object:
            with transaction.atomic():  # finish_reply's transaction
                record = self._pending(message.pk)
                usage = Usage(200, 300, 500)
                return self.svc.settle_chat(record, usage=usage, content="x")

        return call

    def refund_call(self, message: Message) -> Callable[[], object]:
        def call() -> object:
            with transaction.atomic():
                return self.svc.refund(self._pending(message.pk))

        return call


def _run(calls: list[Callable[[], object]]) -> list[float]:
    spent = []
    for call in calls:
        start = time.process_time_ns()
        call()
        spent.append((time.process_time_ns() - start) / 1000)
    return spent


def _count(call: Callable[[], object]) -> str:
    with CaptureQueriesContext(connection) as queries:
        call()
    if os.environ.get("BENCH_SQL"):
        for q in queries.captured_queries:
            print("    ", q["sql"])
    return f"{len(queries):2d}: " + " ".join(
        q["sql"].split(" ", 1)[0] for q in queries.captured_queries
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per path and version")
    parser.add_argument("--baseline", metavar="REF", help="git commit to compare with")
    args = parser.parse_args()
    versions = {"current": services}
    if args.baseline:
        versions = {"baseline": _load_baseline(args.baseline), "current": services}
    per_version = args.calls * (args.repeat + 2) + 4
    team, users, conversation = _setup(per_version * len(versions) + 2)
    steady, capped, settler = users[-1], users[-2], users[-3]
    benches = {
        name: Bench(svc, team, users[i * per_version : (i + 1) * per_version], conversation)
        for i, (name, svc) in enumerate(versions.items())
    }
    MemberMonth.objects.create(team=team, user=capped, month=services.current_month(),
                               limit=CAP, reserved=CAP)  # fmt: skip
    for bench in benches.values():  # warm up: imports, the team's and members' counters
        for _ in range(20):
            bench.reserve_call(steady)()
            bench.refused_call(capped)()

    paths: dict[str, Callable[[Bench], list[Callable[[], object]]]] = {
        "reserve, first of month": lambda b: [
            b.reserve_call(next(b.free)) for _ in range(args.calls)
        ],
        "reserve, steady state": lambda b: [b.reserve_call(steady)] * args.calls,
        "reserve, refused (cap)": lambda b: [b.refused_call(capped)] * args.calls,
        "settle": lambda b: [b.settle_call(b.reserved_message(settler)) for _ in range(args.calls)],
        "refund": lambda b: [b.refund_call(b.reserved_message(settler)) for _ in range(args.calls)],
    }
    print(
        f"{args.calls} calls per round, {args.repeat} rounds per path and version, "
        f"SQLite (WAL), load average {os.getloadavg()[0]:.2f}\n"
    )
    header = "".join(f"{name + ' µs/call':>24}" for name in versions)
    print(f"{'CPU: median call (best round)':<30}{header}" + ("   ratio" if args.baseline else ""))
    for label, make in paths.items():
        samples: dict[str, list[float]] = {name: [] for name in versions}
        rounds: dict[str, list[float]] = {name: [] for name in versions}
        for i in range(args.repeat):
            order = list(benches.items())
            for name, bench in order[::-1] if i % 2 else order:  # alternate: load hits both
                spent = _run(make(bench))
                samples[name] += spent
                rounds[name].append(statistics.mean(spent))
        medians = {name: statistics.median(samples[name]) for name in versions}
        cells = "".join(f"{f'{medians[n]:.0f} ({min(rounds[n]):.0f})':>24}" for n in versions)
        ratio = f"   {medians['current'] / medians['baseline']:.2f}" if args.baseline else ""
        print(f"{label:<30}{cells}{ratio}")

    print("\nQueries per call (the caller's BEGIN and COMMIT included):")
    for name, bench in benches.items():
        print(f"  {name}")
        print(f"    {'reserve, first of month':<26}{_count(bench.reserve_call(next(bench.free)))}")
        print(f"    {'reserve, steady state':<26}{_count(bench.reserve_call(steady))}")
        print(f"    {'reserve, refused (cap)':<26}{_count(bench.refused_call(capped))}")
        print(f"    {'settle':<26}{_count(bench.settle_call(bench.reserved_message(settler)))}")
        print(f"    {'refund':<26}{_count(bench.refund_call(bench.reserved_message(settler)))}")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
