"""Every route Parlor serves, read from the URL configuration and the websocket routers, so a
new route is in the security suite the moment it exists (tests/security/test_tenancy.py,
test_csrf.py, test_websocket_origin.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.regex_helper import normalize

from config.asgi import application


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or the pattern for an unnamed one
    namespace: str
    regex: str
    params: tuple[str, ...]
    callback: Any = field(compare=False, repr=False)

    def url(self, values: dict[str, Any]) -> str:
        """The route's path with `values` for its parameters (Django's own reverse rule)."""
        fmt, params = normalize(self.regex)[0]
        return "/" + fmt % {name: str(values[name]) for name in params}


def _regex(pattern: Any) -> str:
    return pattern.pattern.regex.pattern.lstrip("^").removesuffix(r"\Z").removesuffix("$")


def _walk(
    patterns: list[Any], prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str, Any]]:
    for entry in patterns:
        regex = prefix + _regex(entry)
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, (namespace, entry.namespace)))
            yield from _walk(entry.url_patterns, regex, inner)
        elif isinstance(entry, URLPattern):
            label = entry.name or normalize(regex)[0][0]
            name = f"{namespace}:{label}" if namespace else label
            yield name, regex, entry
        else:  # pragma: no cover - a new kind of entry must be looked at
            raise TypeError(f"unknown URL entry {entry!r}")


def _route(name: str, namespace: str, regex: str, callback: Any) -> Route:
    params = tuple(sorted({p for _fmt, ps in normalize(regex) for p in ps}))
    return Route(name, namespace, regex, params, callback)


def http_routes() -> list[Route]:
    routes = [
        _route(name, name.rpartition(":")[0], regex, entry.callback)
        for name, regex, entry in _walk(get_resolver().url_patterns)
    ]
    return sorted(routes, key=lambda route: route.name)


def _url_router(app: Any) -> Any:
    """The URLRouter under the websocket middleware (origin check, sessions, auth)."""
    seen = 0
    while not hasattr(app, "routes"):
        seen += 1
        if seen > 20:
            raise AssertionError("no URLRouter under the websocket application")
        app = getattr(app, "inner", None) or getattr(app, "application", None)
        if app is None:
            raise AssertionError("a websocket middleware this walk cannot look through")
    return app


def websocket_routes() -> list[Route]:
    router = _url_router(application.application_mapping["websocket"])
    routes = []
    for name, regex, entry in _walk(router.routes):
        callback = entry.callback
        routes.append(_route(f"ws:{name}", "ws", regex, callback))
    return sorted(routes, key=lambda route: route.name)
