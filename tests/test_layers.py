"""The dependency rules of the layout.

- accounts/ imports no other project app (tested in tests/accounts/test_access.py);
- usage/ (the money path) imports only accounts/ and gateway/: the apps that charge call it
  (chat calls usage.services directly) and register their sweep closers with it;
- chat/ never imports media_jobs (media_jobs plugs into chat through chat/commands.py,
  chat/signals.py and the thread's template hook); chat may import usage;
- only gateway/ speaks httpx;
- a template under templates/chat/ extends, includes and loads only chat's own templates and
  tag libraries, Django's and django-template-partials', the project-wide base.html and
  includes/, and the hooks named in CHAT_TEMPLATE_HOOKS.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = {"accounts", "chat", "config", "demo_gateway", "gateway", "media_jobs", "usage", "voice"}


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


def test_usage_imports_only_accounts_and_gateway():
    allowed = {"accounts", "gateway", "usage"}
    offenders = [(f, m) for f, m in _imports("usage") if m.split(".")[0] in APPS - allowed]
    assert offenders == []


def test_chat_imports_neither_media_jobs_nor_voice():
    """They plug into chat through its seams (commands, composer modes, thread items)."""
    plugins = {"media_jobs", "voice"}
    offenders = [(f, m) for f, m in _imports("chat") if m.split(".")[0] in plugins]
    assert offenders == []


@pytest.mark.parametrize(
    "package", ["config", "accounts", "chat", "media_jobs", "usage", "voice", "demo_gateway"]
)
def test_only_the_gateway_speaks_http(package):
    assert [(f, m) for f, m in _imports(package) if m.split(".")[0] == "httpx"] == []


# Templates of chat

TAG = re.compile(r"{%-?\s*(include|extends|load)\s+(.+?)\s*-?%}")
# Tag libraries chat's templates may load: Django's own and django-template-partials'.
BUILTIN_LIBRARIES = {"i18n", "l10n", "static", "tz", "cache", "humanize", "partials"}
# Each entry is a documented hook through which another app's template or tag library reaches
# chat's pages; none is needed today (the budget banner is in base.html; media jobs render in
# the thread through the template name each thread item carries). Add one only with the doc
# that defines the hook.
CHAT_TEMPLATE_HOOKS: frozenset[str] = frozenset()


def _chat_template_references() -> list[tuple[str, str, str]]:
    """(template, tag, what it names) for every include, extends and load in templates/chat."""
    found = []
    for path in sorted((ROOT / "templates" / "chat").rglob("*.html")):
        name = path.relative_to(ROOT / "templates").as_posix()
        for tag, argument in TAG.findall(path.read_text()):
            if tag == "load":
                words = argument.split()  # {% load a b %}, or {% load x y from library %}
                libraries = words[-1:] if "from" in words else words
                found += [(name, "load", library) for library in libraries]
            else:
                target = argument.split()[0]
                found.append((name, tag, target))
    return found


def _allowed(tag: str, target: str) -> bool:
    if tag == "load":
        return (
            target in BUILTIN_LIBRARIES
            or target.startswith("chat")
            or target in (CHAT_TEMPLATE_HOOKS)
        )
    if not (target.startswith('"') or target.startswith("'")):
        return True  # a variable: the documented per-item template hook of the thread
    path = target.strip("\"'").split("#")[0]
    return (
        path.startswith("chat/")
        or path.startswith("includes/")
        or path == "base.html"
        or target.strip("\"'") in CHAT_TEMPLATE_HOOKS
    )


def test_the_chat_template_check_sees_each_kind_of_reference():
    assert _allowed("load", "i18n") and _allowed("load", "partials")
    assert not _allowed("load", "media_jobs") and not _allowed("load", "usage_tags")
    assert _allowed("include", '"chat/messages.html#thread"')
    assert _allowed("extends", '"base.html"') and _allowed("include", '"includes/nav.html"')
    assert not _allowed("include", '"media_jobs/_card.html#card"')
    assert not _allowed("include", "'usage/_banner.html'")
    assert TAG.findall('{% load i18n partials %}{% include "x/y.html" with a=b %}') == [
        ("load", "i18n partials"),
        ("include", '"x/y.html" with a=b'),
    ]


def test_chat_templates_reach_other_apps_only_through_documented_hooks():
    # Until the thread's template hook lands, templates/chat/conversation.html and
    # messages.html load the `media_jobs` tag library and include "media_jobs/_card.html":
    # this test fails on a branch without that change, by design.
    offenders = [ref for ref in _chat_template_references() if not _allowed(ref[1], ref[2])]
    assert offenders == []
