"""The dependency rules of the layout: accounts/ imports no other project app (tested in
tests/accounts/test_access.py), chat/ never imports media_jobs or usage (they plug into chat
through chat/commands.py, chat/billing.py and chat/signals.py), and only gateway/ speaks httpx."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> list[tuple[str, str]]:
    found = []
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.append((path.name, node.module))
    return found


def test_chat_imports_neither_media_jobs_nor_usage():
    offenders = [(f, m) for f, m in _imports("chat") if m.split(".")[0] in {"media_jobs", "usage"}]
    assert offenders == []


@pytest.mark.parametrize("package", ["config", "accounts", "chat", "media_jobs", "usage"])
def test_only_the_gateway_speaks_http(package):
    assert [(f, m) for f, m in _imports(package) if m.split(".")[0] == "httpx"] == []
