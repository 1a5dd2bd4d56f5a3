"""What chat models send back besides text (chat.reply_files): a gpt-4-all reply's pictures
are copied while it streams and the stored reply shows our copies; a link to a private or
loopback address is never fetched and is shown as not copied; other file links become
attachments; a Suno chat model's ticks collapse into one progress line and its songs become
player cards. Copies are served only to those who may read the conversation.

The network is an httpx.MockTransport at gateway.download's seam; names resolve through a
fake DNS, as in tests/gateway/test_download.py."""

from __future__ import annotations

import re

import httpx
import pytest
from channels.db import database_sync_to_async

from chat.models import Attachment, Message
from chat.reply_files import LinkScanner, TickFilter, brings_files, is_suno_chat
from demo_gateway import files as demo_files
from gateway import download as dl
from tests.factories import make_conversation
from tests.sockets import (
    assistant_id_in,
    get_message,
    is_final,
    open_socket,
    receive_until,
    send_action,
)

pytestmark = pytest.mark.django_db(transaction=True)

PNG = demo_files.picture("cat", size=16)
WAV = demo_files.tune("song", seconds=0.2)
PDF = b"%PDF-1.4\n%demo\n"
DNS = {
    "cdn.example": ["93.184.216.34"],
    "internal.example": ["10.0.0.5"],
    "gw.example": ["127.0.0.1"],
}
# Places that must never be asked, whatever the reply says.
PRIVATE = [
    "http://10.0.0.1/x.png",
    "http://127.0.0.1/x.png",
    "http://169.254.169.254/latest.png",
    "http://[::1]/x.png",
    "http://internal.example/x.png",
    "http://gw.example:6379/x.png",  # the gateway's host, another port
]


class Web:
    def __init__(self) -> None:
        self.routes: dict[str, httpx.Response] = {}
        self.asked: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.headers['host']}{request.url.path}"
        self.asked.append(key)
        return self.routes.get(key, httpx.Response(404))

    def serve(self, key: str, body: bytes, content_type: str) -> None:
        self.routes[key] = httpx.Response(200, content=body, headers={"content-type": content_type})


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def web(monkeypatch, settings) -> Web:
    settings.GATEWAY_BASE_URL = "http://gw.example:3000"

    async def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(dl.ipaddress.ip_address(host))]
        except ValueError:
            return DNS[host]

    fake = Web()
    monkeypatch.setattr(dl, "resolve", resolve)
    monkeypatch.setattr(dl, "_transport", httpx.MockTransport(fake))
    return fake


async def _reply(conversation, cookie, fake_stream, tokens) -> tuple[Message, list[str]]:
    fake_stream(tokens)
    socket, connected = await open_socket(conversation, cookie)
    assert connected
    await socket.receive_from(timeout=10)
    await send_action(socket, "send", text="draw a cat")
    first = await socket.receive_from(timeout=10)
    message_id = assistant_id_in([first])
    frames = [first, *await receive_until(socket, is_final(message_id))]
    await socket.disconnect()
    return await get_message(message_id), frames


def _attachments(message: Message) -> list[Attachment]:
    return list(Attachment.objects.filter(message=message).order_by("position"))


@pytest.fixture
def all_chat(team, alice):
    return make_conversation(team, alice, title="", model="gpt-4-all")


# --------------------------------------------------------------------------- gpt-4-all


async def test_pictures_are_copied_and_the_stored_reply_shows_our_copies(
    all_chat, alice_cookie, fake_stream, web
):
    web.serve("cdn.example/a/cat.png", PNG, "image/png")
    tokens = ["Here it is:\n\n", "![a cat](https://cdn.", "example/a/cat.png)\n\n", "Enjoy."]

    message, _frames = await _reply(all_chat, alice_cookie, fake_stream, tokens)

    assert web.asked == ["cdn.example/a/cat.png"]
    [copy] = await database_sync_to_async(_attachments)(message)
    assert (copy.kind, copy.source_url, copy.content_type) == (
        "image",
        "https://cdn.example/a/cat.png",
        "image/png",
    )
    assert (copy.width, copy.height, copy.size) == (16, 16, len(PNG))
    assert copy.file.read() == PNG
    ours = f"/c/{all_chat.pk}/attachments/{copy.pk}/file/"
    assert f'<img src="{ours}" alt="a cat">' in message.html
    assert "cdn.example" not in message.html
    assert message.content == "".join(tokens)  # the text itself is kept as written


@pytest.mark.parametrize("url", PRIVATE)
async def test_private_and_loopback_links_are_never_fetched(
    all_chat, alice_cookie, fake_stream, web, url
):
    host = re.match(r"https?://\[?([^/\]]+?)\]?(?::\d+)?/", url).group(1)
    web.serve("cdn.example/ok.png", PNG, "image/png")

    message, _frames = await _reply(
        all_chat, alice_cookie, fake_stream, [f"![x]({url})\n", "![y](https://cdn.example/ok.png)"]
    )

    assert web.asked == ["cdn.example/ok.png"]
    assert await database_sync_to_async(Attachment.objects.filter(source_url=url).exists)() is False
    assert f"The image at {host} could not be copied." in message.html
    assert url not in message.html  # not hot-linked, not even as a link
    assert "<img" in message.html  # the public one was copied


async def test_a_picture_that_fails_says_so_instead_of_hot_linking(
    all_chat, alice_cookie, fake_stream, web
):
    web.serve("cdn.example/page.png", b"<html>not a picture</html>", "text/html")

    message, _frames = await _reply(
        all_chat,
        alice_cookie,
        fake_stream,
        ["![x](https://cdn.example/page.png) and ", "![y](https://cdn.example/gone.png)"],
    )

    assert sorted(web.asked) == ["cdn.example/gone.png", "cdn.example/page.png"]
    assert message.html.count("The image at cdn.example could not be copied.") == 2
    assert "<img" not in message.html and "https://cdn.example" not in message.html


async def test_other_file_links_are_listed_as_attachments(all_chat, alice_cookie, fake_stream, web):
    web.serve("cdn.example/report.pdf", PDF, "application/pdf")
    web.serve("cdn.example/tune.wav", WAV, "audio/wav")
    tokens = [
        "The [report](https://cdn.example/report.pdf), a tune: https://cdn.example/tune.wav.\n",
        "And [a web page](https://example.org/about) stays a link.",
    ]

    message, _frames = await _reply(all_chat, alice_cookie, fake_stream, tokens)

    assert sorted(web.asked) == ["cdn.example/report.pdf", "cdn.example/tune.wav"]
    pdf, wav = await database_sync_to_async(_attachments)(message)
    assert (pdf.kind, pdf.content_type, pdf.name) == ("file", "application/pdf", "report.pdf")
    assert (wav.kind, wav.content_type, wav.name) == ("audio", "audio/wav", "tune.wav")
    listed = message.html.split('class="reply-attachments"', 1)[1]
    assert f'href="/c/{all_chat.pk}/attachments/{pdf.pk}/download/"' in listed
    player = f'<audio controls preload="none" src="/c/{all_chat.pk}/attachments/{wav.pk}/file/">'
    assert player in listed
    # In the text, the copied file's link points at our copy; a web page stays a web link.
    assert f'<a href="/c/{all_chat.pk}/attachments/{pdf.pk}/file/"' in message.html
    assert 'href="https://example.org/about"' in message.html


async def test_models_that_make_no_files_keep_links_as_they_were(
    conversation, alice_cookie, fake_stream, web
):
    web.serve("cdn.example/a.png", PNG, "image/png")

    message, _frames = await _reply(
        conversation, alice_cookie, fake_stream, ["![a](https://cdn.example/a.png)"]
    )

    assert web.asked == []
    assert '<a href="https://cdn.example/a.png"' in message.html


# --------------------------------------------------------------------------- serving copies


async def _copied_picture(all_chat, alice_cookie, fake_stream, web) -> Attachment:
    web.serve("cdn.example/cat.png", PNG, "image/png")
    message, _frames = await _reply(
        all_chat, alice_cookie, fake_stream, ["![cat](https://cdn.example/cat.png)"]
    )
    [copy] = await database_sync_to_async(_attachments)(message)
    return copy


async def test_a_copy_is_served_to_the_conversations_readers_only(
    all_chat, alice_cookie, fake_stream, web, alice_client, bob_client, charlie_client
):
    copy = await _copied_picture(all_chat, alice_cookie, fake_stream, web)
    url = f"/c/{all_chat.pk}/attachments/{copy.pk}/file/"

    response = await database_sync_to_async(alice_client.get)(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PNG

    # Another team's member, and a teammate while the conversation is private: not found.
    assert (await database_sync_to_async(charlie_client.get)(url)).status_code == 404
    assert (await database_sync_to_async(bob_client.get)(url)).status_code == 404
    all_chat.is_shared = True
    await database_sync_to_async(all_chat.save)(update_fields=["is_shared"])
    assert (await database_sync_to_async(bob_client.get)(url)).status_code == 200
    assert (await database_sync_to_async(charlie_client.get)(url)).status_code == 404


async def test_a_copy_is_not_reachable_through_another_conversation(
    all_chat, team, alice, alice_cookie, fake_stream, web, alice_client
):
    copy = await _copied_picture(all_chat, alice_cookie, fake_stream, web)
    other = await database_sync_to_async(make_conversation)(team, alice)

    response = await database_sync_to_async(alice_client.get)(
        f"/c/{other.pk}/attachments/{copy.pk}/file/"
    )
    assert response.status_code == 404


# --------------------------------------------------------------------------- Suno chat

SUNO_REPLY = (
    "请求已受理，正在生成歌曲，请稍候…\n"  # noqa: RUF001
    + "🎵" * 8
    + "\n## 海边的歌\n"
    + "![封面](https://cdn.example/s/c1.png)\n"
    + "[点击听歌](https://cdn.example/s/a1) [点击观看](https://cdn.example/s/v1.mp4)\n"
)


@pytest.fixture
def suno_chat(team, alice):
    return make_conversation(team, alice, title="", model="suno-v3.5")


async def test_suno_ticks_collapse_into_one_progress_line(
    suno_chat, alice_cookie, fake_stream, web
):
    web.serve("cdn.example/s/c1.png", PNG, "image/png")
    web.serve("cdn.example/s/a1", WAV, "audio/wav")

    message, frames = await _reply(suno_chat, alice_cookie, fake_stream, list(SUNO_REPLY))

    assert "🎵" not in "".join(frames)
    assert "🎵" not in message.content and "🎵" not in message.html
    assert any("Making the song…" in f and f"message-{message.pk}-status" in f for f in frames)
    accepted = SUNO_REPLY.split("\n", 1)[0]
    assert message.content.startswith(f"{accepted}\n## 海边的歌")


async def test_suno_songs_become_player_cards(suno_chat, alice_cookie, fake_stream, web):
    web.serve("cdn.example/s/c1.png", PNG, "image/png")
    web.serve("cdn.example/s/a1", WAV, "audio/wav")
    # The video link answers with a web page: the card shows the song without it.

    message, _frames = await _reply(suno_chat, alice_cookie, fake_stream, list(SUNO_REPLY))

    cover, audio = await database_sync_to_async(_attachments)(message)
    assert (cover.kind, audio.kind) == ("image", "audio")
    assert audio.source_url == "https://cdn.example/s/a1"
    base = f"/c/{suno_chat.pk}/attachments"
    card = message.html.split('class="job-clip reply-song"', 1)[1]
    assert f'<img class="job-cover" src="{base}/{cover.pk}/file/"' in card
    assert "<h4>海边的歌</h4>" in card
    assert f'<audio controls preload="none" src="{base}/{audio.pk}/file/"></audio>' in card
    assert f'href="{base}/{audio.pk}/download/"' in card
    # The cover is on the card, not again in the text; the video was not copied.
    assert message.html.count(f"{base}/{cover.pk}/file/") == 1
    assert "<video" not in message.html


# --------------------------------------------------------------------------- the pieces


def test_models_that_bring_files():
    assert [m for m in ("gpt-4-all", "gpt-4o-all", "gpt-4-gizmo-g-abc", "suno-v3.5", "chirp-v3-5")
            if brings_files(m)] == ["gpt-4-all", "gpt-4o-all", "gpt-4-gizmo-g-abc", "suno-v3.5",
                                    "chirp-v3-5"]  # fmt: skip
    assert not any(brings_files(m) for m in ("gpt-4o", "gpt-4o-mini", "allam-2", "demo-fast"))
    assert is_suno_chat("suno-v3") and not is_suno_chat("gpt-4-all")


@pytest.mark.parametrize("pieces", [list(SUNO_REPLY), [SUNO_REPLY], SUNO_REPLY.split("\n")])
def test_the_tick_filter_does_not_depend_on_how_the_text_arrives(pieces):
    if pieces == SUNO_REPLY.split("\n"):
        pieces = [p + "\n" for p in pieces[:-1]] + [pieces[-1]]
    ticks = TickFilter()
    kept = "".join(ticks.feed(piece) for piece in pieces) + ticks.finish()
    assert kept == SUNO_REPLY.replace("🎵" * 8 + "\n", "")
    assert ticks.ticks == 8


def test_only_lines_made_of_ticks_are_taken_out():
    ticks = TickFilter()
    text = "# 🎵 Title\nla la 🎵\n🎵 🎵\nend🎵"
    assert "".join(ticks.feed(c) for c in text) + ticks.finish() == "# 🎵 Title\nla la 🎵\nend🎵"
    assert ticks.ticks == 2


def test_links_are_found_once_as_lines_complete():
    scanner = LinkScanner()
    found = scanner.feed("![a](https://x.example/a.png) ![a](https://x.example/a.png) [p](ht")
    assert found == []  # the line is not complete yet
    found = scanner.feed("tps://x.example/p.pdf)\nhttps://x.example/page https://x.example/b.jpg.")
    assert [(link.url, link.kind, link.inline) for link in found] == [
        ("https://x.example/a.png", "image", True),
        ("https://x.example/p.pdf", "file", False),
    ]
    assert [(link.url, link.kind) for link in scanner.finish()] == [
        ("https://x.example/b.jpg", "image")
    ]
