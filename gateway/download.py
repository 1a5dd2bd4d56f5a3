"""Downloading task results (pictures, songs, videos) from the URLs a gateway hands back.

The only HTTP code for results. A result URL comes from upstream, so it is treated as hostile:

- http(s) only, no credentials in the URL;
- the host is resolved and every address must be globally routable: private, shared
  (100.64.0.0/10, carrier-grade NAT), loopback, link-local, multicast, reserved, documentation
  and unspecified addresses (IPv4 and IPv6, IPv4-mapped too) are refused, except on the
  configured gateway's own host AND port, exactly (a self-hosted gateway, the demo gateway):
  another port of the same host is another service;
- redirects are followed by hand, each hop checked again;
- the body is capped while streaming (MEDIA_MAX_DOWNLOAD_MB), and the whole download, redirects
  included, has one deadline (MEDIA_DOWNLOAD_SECONDS), so a server that drips a byte at a time
  cannot hold it;
- the type is read from the bytes (magic numbers) and must be one the caller expects; the
  Content-Type header is only cross-checked.

The connection goes to the address that was checked, not to a second lookup of the name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings
from django.utils.translation import gettext_noop

from gateway.errors import GatewayError

MAX_REDIRECTS = 5
CHUNK = 64 * 1024

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
AUDIO_TYPES = frozenset({"audio/mpeg", "audio/wav", "audio/ogg"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
# Files a chat reply may link to besides pictures and sound (gpt-4-all): stored, never shown.
DOCUMENT_TYPES = frozenset({"application/pdf", "application/zip"})
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "application/pdf": "pdf",
    "application/zip": "zip",
}


class DownloadRefused(GatewayError):
    """A result URL we will not fetch (scheme, address, size, type)."""

    summary = gettext_noop("A result file could not be copied.")
    with_message = ""


@dataclass(frozen=True, slots=True)
class Downloaded:
    url: str  # the final URL, after redirects
    content_type: str  # sniffed from the bytes
    data: bytes

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.content_type, "bin")


def sniff(head: bytes) -> str:
    """The media type the first bytes show, or "" if none of ours."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    return ""


def address_is_public(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0]
    )
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo's client) reaches
        # that IPv4 address through a relay: it is judged as that address.
        if ip.sixtofour is not None and not address_is_public(str(ip.sixtofour)):
            return False
        if ip.teredo is not None and not address_is_public(str(ip.teredo[1])):
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def gateway_origin() -> tuple[str, int] | None:
    """The configured gateway's (host, port): the one non-public place results may come from."""
    parts = urlsplit((settings.GATEWAY_BASE_URL or "").strip())
    if not parts.hostname or parts.scheme not in ("http", "https"):
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return parts.hostname.lower(), port


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host` (a literal address resolves to itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise DownloadRefused(f"cannot resolve {host}") from None
    return [str(info[4][0]) for info in infos]


async def checked_address(url: str) -> tuple[str, int, str]:
    """(host, port, address to connect to) for a URL we may fetch; DownloadRefused if not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise DownloadRefused(f"not an http(s) URL: {parts.scheme or url[:40]!r}")
    if parts.username or parts.password:
        raise DownloadRefused("credentials in a result URL")
    host = (parts.hostname or "").lower()
    if not host:
        raise DownloadRefused("no host in the result URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DownloadRefused("bad port in the result URL") from None
    addresses = await resolve(host, port)
    if not addresses:
        raise DownloadRefused(f"no address for {host}")
    if (host, port) != gateway_origin():
        refused = [a for a in addresses if not address_is_public(a)]
        if refused:
            raise DownloadRefused(f"{host} resolves to a non-public address {refused[0]}")
    return host, port, addresses[0]


def max_bytes() -> int:
    return int(float(settings.MEDIA_MAX_DOWNLOAD_MB) * 1024 * 1024)


_transport: httpx.AsyncBaseTransport | None = None  # tests: an httpx.MockTransport


async def download(
    url: str, *, expect: frozenset[str] | set[str], limit: int | None = None
) -> Downloaded:
    """Fetch `url` into memory, checked as the module says; DownloadRefused or GatewayError."""
    deadline = float(settings.MEDIA_DOWNLOAD_SECONDS)
    try:
        async with asyncio.timeout(deadline):
            return await _download(url, expect=expect, limit=limit)
    except TimeoutError:
        raise DownloadRefused(f"not finished within {deadline:g} s") from None


async def _download(
    url: str, *, expect: frozenset[str] | set[str], limit: int | None
) -> Downloaded:
    limit = max_bytes() if limit is None else limit
    timeout = httpx.Timeout(float(settings.GATEWAY_CONNECT_TIMEOUT), read=60.0)
    options: dict = {"timeout": timeout, "follow_redirects": False, "trust_env": False}
    if _transport is not None:
        options["transport"] = _transport
    async with httpx.AsyncClient(**options) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            host, _port, address = await checked_address(url)
            parts = urlsplit(url)
            # Connect to the checked address; keep the name for Host and TLS (SNI).
            netloc = f"[{address}]" if ":" in address else address
            if parts.port:
                netloc = f"{netloc}:{parts.port}"
            target = parts._replace(netloc=netloc).geturl()
            extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
            request = client.build_request(
                "GET", target, headers={"Host": parts.netloc.rsplit("@", 1)[-1]},
                extensions=extensions,
            )  # fmt: skip
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise DownloadRefused(f"{type(exc).__name__} fetching {host}") from None
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    if not location:
                        raise DownloadRefused("a redirect without a Location")
                    url = urljoin(url, location)
                    continue
                if not response.is_success:
                    raise DownloadRefused(f"HTTP {response.status_code} for a result file")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise DownloadRefused(f"{declared} bytes is over the {limit}-byte cap")
                body = bytearray()
                async for chunk in response.aiter_bytes(CHUNK):
                    body += chunk
                    if len(body) > limit:
                        raise DownloadRefused(f"over the {limit}-byte cap")
            finally:
                await response.aclose()
            kind = sniff(bytes(body[:64]))
            if not kind or kind not in expect:
                raise DownloadRefused(
                    f"the bytes are {kind or 'of no known type'}, not {sorted(expect)}"
                )
            declared_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if declared_type.startswith("text/") or "html" in declared_type:
                raise DownloadRefused(f"served as {declared_type}")
            return Downloaded(url=url, content_type=kind, data=bytes(body))
    raise DownloadRefused("too many redirects")


def checked_bytes(
    data: bytes, *, expect: frozenset[str] | set[str], limit: int | None = None
) -> bytes:
    """Bytes a gateway sent inline (an images answer's `b64_json`), held to a download's
    rules: under the cap, and of an expected type by their magic numbers; DownloadRefused
    if not."""
    limit = max_bytes() if limit is None else limit
    if len(data) > limit:
        raise DownloadRefused(f"{len(data)} bytes is over the {limit}-byte cap")
    kind = sniff(data[:64])
    if not kind or kind not in expect:
        raise DownloadRefused(f"the bytes are {kind or 'of no known type'}, not {sorted(expect)}")
    return data
