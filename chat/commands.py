"""Slash commands of the composer: a message starting with a registered prefix
("/imagine ", "/suno ", "/luma ") goes to that command's handler instead of the model.

Other apps register handlers at start-up (chat imports none of them):

    register("/imagine", handler)

A handler is an async callable `(user, membership, conversation, text) -> str` returning the
HTML frame sent to the asking tab, or raising ValidationError with a plain-words message (shown
under the composer), PermissionDenied or Http404.

A command may also be offered as a mode of the composer (its "Media mode" select, rendered by
chat's own template from `modes()`): `register_mode("imagine", _("Image (Midjourney)"),
family="midjourney")`; a mode with a family is offered only while the gateway serves it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[[Any, Any, Any, str], Awaitable[str]]

_handlers: dict[str, Handler] = {}
_modes: dict[str, tuple[Any, str | None]] = {}


def register(prefix: str, handler: Handler) -> None:
    """Route messages starting with `prefix` and a space (or only `prefix`) to `handler`."""
    if not prefix.startswith("/") or " " in prefix:
        raise ValueError(f"a command prefix is a slash and a word: {prefix!r}")
    _handlers[prefix.lower()] = handler


def unregister(prefix: str) -> None:
    _handlers.pop(prefix.lower(), None)
    _modes.pop(prefix.lower().lstrip("/"), None)


def register_mode(mode: str, label: Any, *, family: str | None = None) -> None:
    """Offer the registered command "/<mode>" in the composer's mode select, as `label`; with
    `family` (a gateway.probe family), only while the gateway serves it."""
    _modes[mode.lower()] = (label, family)


def modes() -> list[tuple[str, str]]:
    """The composer's modes whose command is registered and whose family the gateway serves
    (config.gateway_check): (mode, label), in registration order."""
    from config.gateway_check import serves

    served = serves() if any(family for _, family in _modes.values()) else {}
    return [
        (mode, str(label))
        for mode, (label, family) in _modes.items()
        if "/" + mode in _handlers and (family is None or served.get(family, True))
    ]


def with_mode(mode: Any, text: Any) -> Any:
    """The composer's media mode turns a plain message into that command."""
    if not isinstance(mode, str) or not isinstance(text, str) or not mode:
        return text
    prefix = "/" + mode.lower()
    if prefix not in _handlers or find(text) is not None:
        return text
    return f"{prefix} {text}"


def find(text: Any) -> Handler | None:
    """The handler for a message, or None if it is not a registered command."""
    if not isinstance(text, str) or not text.startswith("/"):
        return None
    word, _space, _rest = text.partition(" ")
    if not _space and "\n" in word:
        word = word.split("\n", 1)[0]
    return _handlers.get(word.lower())


def argument(text: str) -> str:
    """The text after the command word."""
    word, _space, rest = text.partition(" ")
    if not _space and "\n" in word:
        rest = word.split("\n", 1)[1]
    return rest.strip()
