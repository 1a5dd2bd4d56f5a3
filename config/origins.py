"""The websocket origin check: the same rule as Django's CSRF check of the Origin header.

A handshake is accepted when its Origin is the socket's own origin (scheme, host and port,
with a host in ALLOWED_HOSTS), or one of CSRF_TRUSTED_ORIGINS (PUBLIC_URL's origin is one),
wildcard subdomains included. No Origin header, or "null", is refused: browsers always send
one on a websocket handshake. Channels' AllowedHostsOriginValidator compared the host only,
so another scheme or port of the same host got in where an HTTP POST would be refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain


def origin_is_trusted(origin: str | None, *, host: str, secure: bool) -> bool:
    """Whether a request from `origin` to `host` (the Host header) passes the CSRF rule."""
    if not origin or origin == "null":
        return False
    domain, _port = split_domain_port(host)
    same_origin = f"{'https' if secure else 'http'}://{host}"
    if domain and validate_host(domain, settings.ALLOWED_HOSTS) and origin == same_origin:
        return True
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return any(
        is_same_domain(parsed.netloc, trusted.netloc.lstrip("*"))
        for trusted in map(urlsplit, settings.CSRF_TRUSTED_ORIGINS)
        if "*" in trusted.netloc and trusted.scheme == parsed.scheme
    )


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _is_secure(scope: dict[str, Any]) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, value = proxy
        name = header.removeprefix("HTTP_").replace("_", "-").lower().encode()
        forwarded = _header(scope, name)
        return forwarded is not None and forwarded.split(",")[0].strip() == value
    return False


class TrustedOriginValidator:
    """ASGI middleware refusing websocket handshakes from an untrusted Origin."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            host = _header(scope, b"host") or ""
            if not origin_is_trusted(origin, host=host, secure=_is_secure(scope)):
                return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
