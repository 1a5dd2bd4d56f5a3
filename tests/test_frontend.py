"""Front-end guarantees: a strict CSP, a locked-down htmx config, static files that exist,
and templates free of inline script, inline style and inline event handlers."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.test import Client

TEMPLATES_DIR = Path(settings.BASE_DIR) / "templates"
MISSING_URL = "/definitely-not-a-page/"


def _directives(header: str) -> dict[str, list[str]]:
    result = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            result[words[0]] = words[1:]
    return result


class _HeadParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.metas: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "meta" and attributes.get("name"):
            self.metas[attributes["name"]] = attributes.get("content") or ""


def _parse(html: str) -> _HeadParser:
    parser = _HeadParser()
    parser.feed(html)
    return parser


@pytest.fixture
def page(alice_client):
    """A full page rendered through base.html (the 404 page, logged in)."""
    response = alice_client.get(MISSING_URL)
    assert response.status_code == 404
    return response


def test_csp_header_is_strict(page):
    header = page["Content-Security-Policy"]
    directives = _directives(header)
    assert directives["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["object-src"] == ["'none'"]


def test_csp_header_on_anonymous_pages(client, alice):
    response = client.get("/accounts/login/")
    assert "'unsafe-inline'" not in _directives(response["Content-Security-Policy"])["script-src"]


def test_htmx_config_is_locked_down(page):
    metas = _parse(page.content.decode()).metas
    config = json.loads(metas["htmx-config"])
    assert config["allowEval"] is False
    assert config["allowScriptTags"] is False
    assert config["selfRequestsOnly"] is True
    assert config["includeIndicatorStyles"] is False


def test_page_carries_js_labels_and_live_region(page):
    html = page.content.decode()
    tags = _parse(html).tags
    body = next(attrs for tag, attrs in tags if tag == "body")
    for name in (
        "data-copy-code-label",
        "data-copied-label",
        "data-ws-connected-label",
        "data-ws-reconnecting-label",
    ):
        assert body.get(name), name
    assert "X-CSRFToken" in (body.get("hx-headers") or "")
    live = [attrs for tag, attrs in tags if attrs.get("id") == "live-region"]
    assert live and live[0].get("aria-live") == "polite"
    toggles = [attrs for tag, attrs in tags if "theme-toggle" in (attrs.get("class") or "")]
    assert toggles and toggles[0].get("aria-label")
    sidebar_toggle = [attrs for tag, attrs in tags if attrs.get("id") == "sidebar-toggle"]
    assert sidebar_toggle and sidebar_toggle[0].get("aria-expanded") == "false"


def test_static_files_referenced_by_base_exist():
    source = (TEMPLATES_DIR / "base.html").read_text(encoding="utf-8")
    paths = re.findall(r"""\{%\s*static\s+['"]([^'"]+)['"]\s*%\}""", source)
    assert "js/app.js" in paths
    assert "css/app.css" in paths
    missing = [path for path in paths if not finders.find(path)]
    assert not missing, f"base.html links missing static files: {missing}"


class _ScriptParser(HTMLParser):
    """Every <script> element (any case) with its attributes and body."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self._body: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":  # html.parser lowercases tag names
            self._open, self._body = dict(attrs), []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._body.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._open is not None:
            self.scripts.append((self._open, "".join(self._body)))
            self._open = None

    def close(self) -> None:
        super().close()
        if self._open is not None:  # an unclosed <script> runs the rest of the page
            self.scripts.append((self._open, "".join(self._body)))


def inline_scripts(html: str) -> list[str]:
    """Script elements that would run inline code: no src, or a body."""
    parser = _ScriptParser()
    parser.feed(html)
    parser.close()
    return [
        f"<script {attrs}>{body[:40]}"
        for attrs, body in parser.scripts
        if not attrs.get("src") or body.strip()
    ]


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        "<SCRIPT>alert(1)</SCRIPT>",
        '<script type="module">import "x"</script>',
        '<script src="/static/js/app.js">alert(1)</script>',
        "<script >alert(1)",
    ],
)
def test_the_inline_script_check_finds_inline_scripts(html):
    assert inline_scripts(html)


def test_the_inline_script_check_allows_external_scripts():
    assert not inline_scripts('<script src="/static/js/app.js" defer></script>')


def test_error_templates_render():
    html = render_to_string("500.html")
    assert "css/app.css" in html
    assert inline_scripts(html) == []


_TAG_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)\b((?:[^<>\"']|\"[^\"]*\"|'[^']*')*)>", re.S)
_INLINE_ATTR_RE = re.compile(r"""(?:^|[\s"'])(style|on[a-z]+)\s*=""", re.I)
_SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)


def _template_files() -> list[Path]:
    return sorted(TEMPLATES_DIR.rglob("*.html"))


def test_templates_have_no_inline_script_style_or_handlers():
    files = _template_files()
    assert files
    problems = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        # Django template comments may quote markup; they never reach the browser.
        source = re.sub(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", "", source, flags=re.S)
        source = re.sub(r"\{#.*?#\}", "", source, flags=re.S)
        name = path.relative_to(TEMPLATES_DIR)
        for match in _SCRIPT_RE.finditer(source):
            attributes, body = match.groups()
            if body.strip() or "src=" not in attributes:
                problems.append(f"{name}: inline <script>")
        for match in _TAG_RE.finditer(source):
            attributes = re.sub(r"\{[{%].*?[%}]\}", " ", match.group(2))
            inline = _INLINE_ATTR_RE.search(attributes)
            if inline:
                problems.append(f"{name}: <{match.group(1)}> has inline {inline.group(1)}=")
        if re.search(r"""(?:href|src|action)\s*=\s*["']\s*javascript:""", source, re.I):
            problems.append(f"{name}: javascript: URL")
    assert not problems, "\n".join(problems)


def test_inline_scanner_catches_offenders(tmp_path):
    """The scanner itself must flag what it is meant to flag."""
    samples = {
        '<div style="color:red">': True,
        '<button onclick="x()">': True,
        "<a href='#' onmouseover='x()'>": True,
        '<div data-style="x" class="onion">': False,
        '<input value="{{ x }}" data-on="1">': False,
    }
    for markup, offending in samples.items():
        found = False
        for match in _TAG_RE.finditer(markup):
            if _INLINE_ATTR_RE.search(match.group(2)):
                found = True
        assert found is offending, markup


# ---------- chrome: demo notice, switches, user menu ----------

DISMISS = "/demo-notice/dismiss/"


def test_the_demo_notice_is_dismissible_for_the_session(alice_client, settings):
    settings.DEMO_GATEWAY = True
    home = alice_client.get("/").content.decode()
    assert 'id="demo-banner"' in home
    assert f'hx-post="{DISMISS}"' in home
    response = alice_client.post(DISMISS, {"next": "/accounts/team/"})
    assert response.status_code == 302
    assert response.url == "/accounts/team/"
    assert 'id="demo-banner"' not in alice_client.get("/").content.decode()


def test_dismissing_the_demo_notice_over_htmx_removes_it(alice_client, settings):
    settings.DEMO_GATEWAY = True
    response = alice_client.post(DISMISS, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content == b""
    assert 'id="demo-banner"' not in alice_client.get("/").content.decode()


def test_dismissing_the_demo_notice_needs_post_and_csrf(alice, settings):
    settings.DEMO_GATEWAY = True
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.get(DISMISS).status_code == 405
    assert client.post(DISMISS).status_code == 403


def test_dismissing_the_demo_notice_goes_nowhere_foreign(alice_client, settings):
    response = alice_client.post(DISMISS, {"next": "https://evil.example/"})
    assert "evil" not in response.url


def test_a_fresh_session_sees_the_demo_notice_again(alice, alice_client, settings):
    settings.DEMO_GATEWAY = True
    alice_client.post(DISMISS)
    other = Client()
    other.force_login(alice)
    assert 'id="demo-banner"' in other.get("/").content.decode()


def _noscript_buttons(html: str) -> tuple[list[str], list[str]]:
    """Submit buttons inside and outside <noscript> in the language and team forms."""
    inside, outside = [], []
    for form in re.findall(
        r'<form[^>]*class="(?:language-form|team-switcher)".*?</form>', html, re.S
    ):
        hidden = "".join(re.findall(r"<noscript>.*?</noscript>", form, re.S))
        visible = re.sub(r"<noscript>.*?</noscript>", "", form, flags=re.S)
        inside += re.findall(r'<button type="submit"[^>]*>([^<]*)</button>', hidden)
        outside += re.findall(r'<button type="submit"[^>]*>([^<]*)</button>', visible)
    return inside, outside


def test_language_and_team_switch_on_change_with_a_noscript_fallback(alice_client, alice):
    from accounts.models import Team
    from tests.factories import make_membership

    make_membership(Team.objects.create(name="Second"), alice)
    html = alice_client.get("/").content.decode()
    assert html.count("data-autosubmit") == 2
    inside, outside = _noscript_buttons(html)
    assert sorted(inside) == ["Apply", "Switch team"]
    assert outside == []


def test_the_user_menu_holds_settings_admin_and_log_out(alice_client, alice):
    html = alice_client.get("/").content.decode()
    menu_html = html[html.index('<details class="user-menu" id="user-menu">') :]
    assert ">Settings</a>" in menu_html
    assert "Log out</button>" in menu_html
    assert "Keyboard shortcuts" in menu_html
    assert ">Admin</a>" not in html  # alice is no site admin
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    assert ">Admin</a>" in alice_client.get("/").content.decode()
    # Team stays a visible link in the top bar, outside the menu.
    topnav = re.search(r'<nav class="topnav"[^>]*>(.*?)</nav>', html, re.S)
    assert topnav and re.search(r'<a href="/accounts/team/"[^>]*>Team</a>', topnav.group(1))


def test_every_stylesheet_closes_what_it_opens():
    """One missing brace swallows every rule after it without a word from the browser."""
    for path in (Path(settings.BASE_DIR) / "static" / "css").glob("*.css"):
        text = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        depth = 0
        for number, line in enumerate(text.splitlines(), 1):
            depth += line.count("{") - line.count("}")
            assert depth >= 0, f"{path.name}:{number} closes a block never opened"
        assert depth == 0, f"{path.name} leaves {depth} block(s) open"
