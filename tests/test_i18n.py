# ruff: noqa: RUF001 -- Chinese strings use fullwidth punctuation on purpose.
"""The Simplified Chinese translation: pages follow Accept-Language and the language switcher,
server-side messages are translated when they are shown, and the catalogue in locale/ is
complete, unfuzzy, compiled and in step with the source.

To add or change a string: `make messages`, translate the new entries in
locale/zh_Hans/LC_MESSAGES/django.po, run `make messages` again and commit both .po and .mo.
"""

from __future__ import annotations

import ast
import gettext
import re
import shutil
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import translation

from chat import services
from chat.frames import finished_text
from chat.models import Message
from gateway.errors import GatewayQuotaError, error_from_response
from tests.factories import make_conversation, make_message

LOCALE_DIR = Path(settings.LOCALE_PATHS[0])
PO_PATH = LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")
HOME = reverse("chat:home")
LOGIN = reverse("accounts:login")
SET_LANGUAGE = reverse("set_language")

ZH_HEADERS = ["zh-Hans", "zh-hans", "zh-CN", "zh", "zh-CN,zh;q=0.9,en;q=0.8"]
EN_HEADERS = ["en", "en-US,en;q=0.9", "fr"]  # fr is not offered: LANGUAGE_CODE, English


# --------------------------------------------------------------------------- a tiny .po reader


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def label(self) -> str:
        context = f"[{self.msgctxt}] " if self.msgctxt is not None else ""
        return f"line {self.line}: {context}{self.msgid!r}"


_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")\s*$")


def parse_po(path: Path) -> tuple[Entry, list[Entry]]:
    """(header, entries) of a .po file; obsolete (#~) entries are left out."""
    entries: list[Entry] = []
    entry, target = Entry(), None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            if target is not None:
                entries.append(entry)
            entry, target = Entry(), None
            continue
        starts_entry = line.startswith("#") or line.startswith(("msgctxt", "msgid "))
        if starts_entry and entry.msgstr:  # makemessages may omit the blank line
            entries.append(entry)
            entry, target = Entry(), None
        if line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue  # comments, references and obsolete entries
        if line.startswith('"'):
            if target is None:
                raise AssertionError(f"{path}:{number}: a string outside an entry")
            _append(entry, target, ast.literal_eval(line))
            continue
        match = _KEYWORD.match(line)
        if match is None:
            raise AssertionError(f"{path}:{number}: cannot read {raw!r}")
        keyword, index, value = match.groups()
        if target is None:
            entry.line = number
        target = (keyword, int(index)) if index is not None else (keyword, 0)
        _append(entry, target, ast.literal_eval(value), start=True)
    if target is not None:
        entries.append(entry)
    header = next((e for e in entries if e.msgid == "" and e.msgctxt is None), None)
    assert header is not None, f"{path} has no header entry"
    return header, [e for e in entries if e is not header]


def _append(entry: Entry, target: tuple[str, int], text: str, *, start: bool = False) -> None:
    keyword, index = target
    if keyword.startswith("msgstr"):
        entry.msgstr[index] = ("" if start else entry.msgstr.get(index, "")) + text
    else:
        setattr(entry, keyword, ("" if start else getattr(entry, keyword) or "") + text)


def _header_fields(header: Entry) -> dict[str, str]:
    lines = header.msgstr.get(0, "").splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


@pytest.fixture(scope="module")
def catalogue() -> tuple[Entry, list[Entry]]:
    return parse_po(PO_PATH)


# --------------------------------------------------------------------------- the catalogue


def test_every_message_is_translated_and_not_fuzzy(catalogue):
    _header, entries = catalogue
    assert entries, f"{PO_PATH} has no messages"
    untranslated = [e.label for e in entries if not e.msgstr or not all(e.msgstr.values())]
    fuzzy = [e.label for e in entries if "fuzzy" in e.flags]
    problems = [f"untranslated {label}" for label in untranslated]
    problems += [f"fuzzy {label}" for label in fuzzy]
    assert not problems, (
        f"{PO_PATH}: translate these entries (and drop any "
        "'#, fuzzy' flag), then run `make messages`:\n  " + "\n  ".join(problems)
    )


def test_the_header_describes_simplified_chinese(catalogue):
    header, _entries = catalogue
    fields = {key.strip(): value.strip() for key, value in _header_fields(header).items()}
    assert "fuzzy" not in header.flags
    assert fields["Language"] == "zh_Hans"
    assert fields["Plural-Forms"] == "nplurals=1; plural=0;"
    assert fields["Content-Type"] == "text/plain; charset=UTF-8"


def test_plural_entries_have_their_single_form(catalogue):
    _header, entries = catalogue
    wrong = [e.label for e in entries if e.msgid_plural is not None and set(e.msgstr) != {0}]
    assert not wrong, "nplurals=1: give exactly msgstr[0] for:\n  " + "\n  ".join(wrong)


_PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w*\}|</?[a-zA-Z][^>]*>")


def test_translations_keep_placeholders_and_markup(catalogue):
    _header, entries = catalogue
    wrong = []
    for entry in entries:
        expected = sorted(_PLACEHOLDER.findall(entry.msgid))
        for msgstr in entry.msgstr.values():
            if msgstr and sorted(_PLACEHOLDER.findall(msgstr)) != expected:
                wrong.append(f"{entry.label} -> {msgstr!r}")
    assert not wrong, "placeholders or tags differ:\n  " + "\n  ".join(wrong)


def test_the_compiled_catalogue_matches_the_po_file(catalogue):
    """CI machines may lack gettext, so the .mo is committed: it must not lag the .po."""
    _header, entries = catalogue
    assert MO_PATH.exists(), f"{MO_PATH} is missing: run `make messages`"
    with MO_PATH.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog  # msgid -> msgstr, as Django reads it
    stale = []
    for entry in entries:
        key = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            found = {0: compiled.get(key)}
        else:
            found = {index: compiled.get((key, index)) for index in entry.msgstr}
        if found != entry.msgstr:
            stale.append(f"{entry.label}: .po {entry.msgstr!r}, .mo {found!r}")
    assert not stale, (
        f"{MO_PATH.name} is out of date; run `manage.py compilemessages`:\n  " + "\n  ".join(stale)
    )


_GETTEXT_TOOLS = ("xgettext", "msguniq", "msgmerge", "msgattrib")
_NOT_SCANNED = {"benchmarks", "build", "data", "locale", "node_modules", "static", "tests"}


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in _GETTEXT_TOOLS), reason="GNU gettext is not installed"
)
def test_the_po_file_has_every_string_of_the_source(catalogue, tmp_path, monkeypatch):
    """Run makemessages on a copy of the source: a string marked for translation but missing
    from the .po (or a stale entry) means `make messages` was not run."""
    _header, entries = catalogue
    for item in Path(settings.BASE_DIR).iterdir():
        if item.name.startswith(".") or item.name in _NOT_SCANNED or item.suffix == ".egg-info":
            continue
        if item.is_dir():
            shutil.copytree(
                item, tmp_path / item.name, ignore=shutil.ignore_patterns(".*", "__pycache__")
            )
        elif item.suffix in {".py", ".html", ".txt"}:
            shutil.copy2(item, tmp_path / item.name)
    monkeypatch.chdir(tmp_path)
    with override_settings(LOCALE_PATHS=[tmp_path / "locale"]):
        call_command("makemessages", locale=["zh_Hans"], verbosity=0, stdout=StringIO())
    _fresh_header, fresh = parse_po(tmp_path / "locale" / PO_PATH.relative_to(LOCALE_DIR))
    source = {(e.msgctxt, e.msgid) for e in fresh}
    committed = {(e.msgctxt, e.msgid) for e in entries}
    problems = [f"missing from the .po: {msgid!r}" for _c, msgid in sorted(source - committed)]
    problems += [f"no longer in the source: {msgid!r}" for _c, msgid in sorted(committed - source)]
    assert not problems, "Run `make messages` and translate the new entries:\n  " + "\n  ".join(
        problems
    )


# --------------------------------------------------------------------------- pages


@pytest.mark.parametrize("accept_language", ZH_HEADERS)
def test_the_login_page_follows_a_chinese_browser(client, alice, accept_language):
    response = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE=accept_language)
    content = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans">' in content
    assert "<title>登录 · Parlor</title>" in content
    assert "登录</button>" in content
    assert ">用户名</label>" in content  # Django's own catalogue, for the auth form
    assert ">密码</label>" in content
    assert "Log in" not in content


@pytest.mark.parametrize("accept_language", EN_HEADERS)
def test_the_login_page_stays_english_otherwise(client, alice, accept_language):
    response = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE=accept_language)
    content = response.content.decode()
    assert response["Content-Language"] == "en"
    assert "<title>Log in · Parlor</title>" in content
    assert "Log in</button>" in content
    assert ">Username</label>" in content
    assert "登录" not in content


@pytest.mark.parametrize("accept_language", ZH_HEADERS)
def test_the_chat_home_follows_a_chinese_browser(alice_client, team, alice, accept_language):
    make_conversation(team, alice, title="")  # untitled: shown by the model as "New chat"
    content = alice_client.get(HOME, HTTP_ACCEPT_LANGUAGE=accept_language).content.decode()
    assert "新对话</button>" in content
    assert "<h1>开始对话</h1>" in content
    assert "退出登录</button>" in content
    assert 'placeholder="搜索"' in content
    assert '<span id="sidebar-title-' in content and ">新对话</span>" in content
    assert 'data-copy-code-label="复制代码"' in content  # app.js reads its labels from here
    assert "New chat" not in content
    assert "Log out" not in content


@pytest.mark.parametrize("accept_language", EN_HEADERS)
def test_the_chat_home_stays_english_otherwise(alice_client, accept_language):
    content = alice_client.get(HOME, HTTP_ACCEPT_LANGUAGE=accept_language).content.decode()
    assert "New chat</button>" in content
    assert "<h1>Start a conversation</h1>" in content
    assert "Log out</button>" in content
    assert 'data-copy-code-label="Copy code"' in content
    assert "新对话" not in content


@pytest.fixture
def conversation(team, alice, monkeypatch):
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: ["gpt-4o"])
    conversation = make_conversation(team, alice, title="Launch plan", model="gpt-4o")
    question = make_message(conversation, content="When do we launch?")
    make_message(conversation, role=Message.Role.ASSISTANT, content="Tuesday.", parent=question)
    return conversation


def test_the_chat_page_follows_a_chinese_browser(alice_client, conversation):
    url = reverse("chat:conversation", args=[conversation.pk])
    content = alice_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "发送</button>" in content
    assert "停止</button>" in content
    assert "重新生成</button>" in content
    assert "分享给团队</button>" in content
    assert ">模型</label>" in content
    assert ">系统提示词</label>" in content
    assert ">温度</label>" in content
    assert 'placeholder="输入消息"' in content
    assert "Send</button>" not in content


def test_the_chat_page_stays_english_otherwise(alice_client, conversation):
    url = reverse("chat:conversation", args=[conversation.pk])
    content = alice_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Send</button>" in content
    assert "Regenerate</button>" in content
    assert "Share with team</button>" in content
    assert "发送" not in content


def test_the_language_switcher_sets_the_cookie_and_later_pages_follow_it(alice_client):
    response = alice_client.post(SET_LANGUAGE, {"language": "zh-hans", "next": HOME})
    assert response.status_code == 302
    assert response.url == HOME
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"

    content = alice_client.get(HOME).content.decode()
    assert "新对话</button>" in content
    assert '<option value="zh-hans" selected>' in content
    # The cookie outranks the browser's Accept-Language.
    content = alice_client.get(HOME, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "新对话</button>" in content

    response = alice_client.post(SET_LANGUAGE, {"language": "en", "next": HOME})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    content = alice_client.get(HOME, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "New chat</button>" in content


def test_a_language_not_offered_falls_back_to_english(alice_client):
    # set_language stores any language Django has a catalogue for; LANGUAGES filters it.
    alice_client.post(SET_LANGUAGE, {"language": "fr", "next": HOME})
    response = alice_client.get(HOME)
    assert response["Content-Language"] == "en"
    assert "New chat</button>" in response.content.decode()


# --------------------------------------------------------------------------- server-side messages


def test_gateway_errors_are_translated_when_shown():
    quota = GatewayQuotaError("upstream said no", status=402)
    quoted = GatewayQuotaError("upstream said no", status=402, message="余额不足 (request id: 1)")
    wrong_address = error_from_response(404, "text/plain", b"not found")
    with translation.override("zh-hans"):
        assert quota.user_message == "网关账户额度已用完。"
        assert quoted.user_message == "网关账户额度已用完：余额不足"
        assert wrong_address.user_message == "网关无法识别此地址；请检查 GATEWAY_BASE_URL。"
    with translation.override("en"):
        assert quota.user_message == "The gateway account has run out of quota."
        assert wrong_address.user_message.startswith("The gateway does not know this address")


@pytest.mark.parametrize(
    ("status", "error", "zh", "en"),
    [
        (Message.Status.COMPLETE, "", "回复已完成。", "Reply finished."),
        (Message.Status.STOPPED, "", "回复已停止。", "Reply stopped."),
        (
            Message.Status.INTERRUPTED,
            "",
            "回复在完成前被中断。",
            "The reply was cut off before it finished.",
        ),
        (Message.Status.FAILED, "", "回复失败。", "The reply failed."),
    ],
)
def test_streaming_announcements_are_translated(status, error, zh, en):
    message = Message(role=Message.Role.ASSISTANT, status=status, error=error)
    with translation.override("zh-hans"):
        assert finished_text(message) == zh
    with translation.override("en"):
        assert finished_text(message) == en


def test_message_validation_is_translated(settings):
    settings.MESSAGE_MAX_CHARS = 5
    with translation.override("zh-hans"):
        with pytest.raises(ValidationError) as empty:
            services.clean_text("   ")
        with pytest.raises(ValidationError) as too_long:
            services.clean_text("abcdefg")
    assert empty.value.messages == ["请先输入消息。"]
    assert too_long.value.messages == ["消息过长：共 7 个字符，上限为 5 个。"]
