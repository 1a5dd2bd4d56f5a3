"""The SSRF corpus (tests/security/corpus.py) through every outbound fetch of a URL someone
else chose: gateway.download, the only code that fetches result files and the links a reply
holds (media_jobs.storage and chat.reply_files call it). The network is an httpx.MockTransport
that records every request; names resolve through a patched socket.getaddrinfo, so
gateway.download's own resolver is under test, literal addresses in every spelling included."""

from __future__ import annotations

import socket

import httpx
import pytest

from gateway import download as dl
from tests.security.corpus import DNS, GATEWAY, SSRF

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
REAL_GETADDRINFO = socket.getaddrinfo


def _getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.lower().rstrip(".") in DNS:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in DNS[name.lower().rstrip(".")]
        ]
    # Address literals in any spelling libc accepts (2130706433, 0177.0.0.1…), never the network.
    return REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)


class Web:
    def __init__(self) -> None:
        self.asked: list[str] = []
        self.redirect_to = ""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(f"{request.url.host}:{request.url.port} {request.headers['host']}")
        if request.url.path == "/jump" and self.redirect_to:
            return httpx.Response(302, headers={"location": self.redirect_to})
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})


@pytest.fixture
def web(monkeypatch, settings) -> Web:
    settings.GATEWAY_BASE_URL = GATEWAY
    monkeypatch.setattr(socket, "getaddrinfo", _getaddrinfo)
    fake = Web()
    monkeypatch.setattr(dl, "_transport", httpx.MockTransport(fake))
    return fake


async def test_the_controls_are_fetched(web):
    """A public host and the gateway's own origin are fetched, through the checked address."""
    assert (await dl.download("http://cdn.example/a.png", expect=dl.IMAGE_TYPES)).data == PNG
    assert (await dl.download(f"{GATEWAY}/mj/1.png", expect=dl.IMAGE_TYPES)).data == PNG
    assert web.asked == ["93.184.216.34:None cdn.example", "127.0.0.1:3000 gw.example:3000"]


@pytest.mark.parametrize("url", SSRF)
async def test_every_private_target_is_refused_before_a_byte_is_asked(web, url):
    with pytest.raises(dl.DownloadRefused):
        await dl.download(url, expect=dl.IMAGE_TYPES)
    assert web.asked == []


@pytest.mark.parametrize("url", [u for u in SSRF if u.startswith(("http:", "https:", "//"))])
async def test_a_redirect_to_a_private_target_is_not_followed(web, url):
    web.redirect_to = url
    with pytest.raises(dl.DownloadRefused):
        await dl.download("http://cdn.example/jump", expect=dl.IMAGE_TYPES)
    assert web.asked == ["93.184.216.34:None cdn.example"]


@pytest.mark.parametrize(
    "address",
    ["::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:c0a8:101::1", "::a00:1", "fc00::1"],
)
def test_addresses_that_embed_a_private_one_are_not_public(address):
    assert not dl.address_is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "2002:5db8:d822::1"])
def test_public_addresses_are_public(address):
    assert dl.address_is_public(address)
