"""gateway.download against hostile result URLs: every refusal happens before a byte of the
wrong place is read. The network is an httpx.MockTransport; names resolve through a fake DNS."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from gateway import download as dl

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DNS = {
    "cdn.example": ["93.184.216.34"],
    "internal.example": ["10.0.0.5"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "metadata.example": ["169.254.169.254"],
    "gw.example": ["127.0.0.1"],
    "cgnat.example": ["100.64.0.7"],
}


class Web:
    """Answers by Host header; records which hosts were asked."""

    def __init__(self) -> None:
        self.routes: dict[str, httpx.Response] = {}
        self.asked: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.headers["host"]
        self.asked.append(f"{host}{request.url.path}")
        return self.routes.get(f"{host}{request.url.path}", httpx.Response(404))


@pytest.fixture
def web(monkeypatch, settings):
    settings.GATEWAY_BASE_URL = "http://gw.example:3000"
    settings.MEDIA_MAX_DOWNLOAD_MB = 200

    async def resolve(host: str, port: int) -> list[str]:
        try:
            return [str(dl.ipaddress.ip_address(host))]
        except ValueError:
            return DNS[host]

    fake = Web()
    monkeypatch.setattr(dl, "resolve", resolve)
    monkeypatch.setattr(dl, "_transport", httpx.MockTransport(fake))
    return fake


def png(**headers) -> httpx.Response:
    return httpx.Response(200, content=PNG, headers={"content-type": "image/png", **headers})


async def test_a_public_png_is_fetched_and_sniffed(web):
    web.routes["cdn.example/a.png"] = png()
    got = await dl.download("https://cdn.example/a.png", expect=dl.IMAGE_TYPES)
    assert (got.content_type, got.data, got.extension) == ("image/png", PNG, "png")


# Every non-public address, spelling, scheme and redirect target: the SSRF corpus of
# tests/security/test_ssrf.py, kept in one place (tests/security/corpus.py).


async def test_the_gateways_own_host_may_be_on_loopback(web):
    web.routes["gw.example:3000/mj/image/1"] = png()
    got = await dl.download("http://gw.example:3000/mj/image/1", expect=dl.IMAGE_TYPES)
    assert got.content_type == "image/png"


async def test_a_redirect_to_another_port_of_the_gateways_host_is_refused(web):
    web.routes["gw.example:3000/mj/image/1"] = httpx.Response(
        302, headers={"location": "http://gw.example:8000/admin/"}
    )
    with pytest.raises(dl.DownloadRefused):
        await dl.download("http://gw.example:3000/mj/image/1", expect=dl.IMAGE_TYPES)
    assert web.asked == ["gw.example:3000/mj/image/1"]


class Drip(httpx.AsyncByteStream):
    """A body that sends a byte every `pause` seconds: within any per-read timeout."""

    def __init__(self, pause: float) -> None:
        self.pause = pause

    async def __aiter__(self):
        yield PNG[:8]
        while True:
            await asyncio.sleep(self.pause)
            yield b"\x00"


async def test_a_dripping_download_ends_at_its_deadline(web, settings):
    settings.MEDIA_DOWNLOAD_SECONDS = 0.3
    web.routes["cdn.example/slow.png"] = httpx.Response(
        200, stream=Drip(0.05), headers={"content-type": "image/png"}
    )
    started = time.monotonic()
    with pytest.raises(dl.DownloadRefused, match="within"):
        await dl.download("https://cdn.example/slow.png", expect=dl.IMAGE_TYPES)
    assert time.monotonic() - started < 5


async def test_a_redirect_to_a_public_host_is_followed(web):
    web.routes["cdn.example/a.png"] = httpx.Response(301, headers={"location": "/b.png"})
    web.routes["cdn.example/b.png"] = png()
    got = await dl.download("https://cdn.example/a.png", expect=dl.IMAGE_TYPES)
    assert got.url == "https://cdn.example/b.png"


async def test_redirect_loops_end(web):
    web.routes["cdn.example/a.png"] = httpx.Response(302, headers={"location": "/a.png"})
    with pytest.raises(dl.DownloadRefused, match="too many redirects"):
        await dl.download("https://cdn.example/a.png", expect=dl.IMAGE_TYPES)


async def test_a_huge_body_is_cut_off_while_streaming(web):
    async def chunks():
        yield PNG
        for _ in range(100):
            yield b"\x00" * 65536

    web.routes["cdn.example/big.png"] = httpx.Response(200, content=chunks())  # no length
    with pytest.raises(dl.DownloadRefused, match="cap"):
        await dl.download("https://cdn.example/big.png", expect=dl.IMAGE_TYPES, limit=1_000_000)


async def test_a_declared_huge_body_is_refused_at_once(web, settings):
    settings.MEDIA_MAX_DOWNLOAD_MB = 1
    web.routes["cdn.example/big.png"] = png(**{"content-length": str(5 * 1024 * 1024)})
    with pytest.raises(dl.DownloadRefused, match="cap"):
        await dl.download("https://cdn.example/big.png", expect=dl.IMAGE_TYPES)


async def test_a_picture_where_audio_is_expected_is_refused(web):
    web.routes["cdn.example/song.mp3"] = png(**{"content-type": "audio/mpeg"})
    with pytest.raises(dl.DownloadRefused, match="image/png"):
        await dl.download("https://cdn.example/song.mp3", expect=dl.AUDIO_TYPES)


async def test_an_html_page_served_as_image_png_is_refused(web):
    page = b"<!doctype html><html><body>login</body></html>"
    headers = {"content-type": "image/png"}
    web.routes["cdn.example/a.png"] = httpx.Response(200, content=page, headers=headers)
    with pytest.raises(dl.DownloadRefused, match="no known type"):
        await dl.download("https://cdn.example/a.png", expect=dl.IMAGE_TYPES)


async def test_a_png_served_as_html_is_refused(web):
    web.routes["cdn.example/a.png"] = png(**{"content-type": "text/html"})
    with pytest.raises(dl.DownloadRefused, match="text/html"):
        await dl.download("https://cdn.example/a.png", expect=dl.IMAGE_TYPES)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a", "image/gif"),
        (b"ID3\x04", "audio/mpeg"),
        (b"\xff\xfb\x90\x00", "audio/mpeg"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"OggS\x00", "audio/ogg"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        (b"\x00\x00\x00\x14ftypqt  ", "video/quicktime"),
        (b"\x1a\x45\xdf\xa3", "video/webm"),
        (b"<html>", ""),
    ],
)
def test_sniff(head, kind):
    assert dl.sniff(head) == kind
