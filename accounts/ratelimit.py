"""Failed-login counters in Django's cache (locmem in one process, Redis in scale mode).

Each username and each client IP gets a counter that lives for a fixed window from its first
failure. `cache.add` then `cache.incr` keeps the count atomic on every backend, so parallel
guesses cannot slip under the limit.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

WINDOW_SECONDS = 15 * 60
# Names an invite's sign-up may refuse (taken, or passing for a user's) per window: enough
# for an invitee to find a free one, too few to list the users through a leaked link.
SIGNUP_NAME_TRIES = 10


def client_ip(request: HttpRequest) -> str | None:
    """The address to count failures against: behind a proxy, the one it appended last to
    X-Forwarded-For (earlier entries are the client's to forge); else REMOTE_ADDR."""
    if settings.BEHIND_HTTPS_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if last := forwarded.rsplit(",", 1)[-1].strip():
            return last
    return request.META.get("REMOTE_ADDR")


def _key(kind: str, value: str) -> str:
    # Hash so any username is a safe cache key (memcached and Redis dislike spaces/length).
    digest = hashlib.sha256(value.encode()).hexdigest()
    return f"parlor:login-fail:{kind}:{digest}"


def _keys(username: str, ip: str | None) -> list[str]:
    keys = [_key("user", username.casefold())]
    if ip:
        keys.append(_key("ip", ip))
    return keys


def _since(key: str) -> str:
    # When the counter's window opened: a cache cannot tell a key's time to live.
    return f"{key}:since"


def is_blocked(username: str, ip: str | None) -> bool:
    """True when the username or the client IP has used up its failed attempts."""
    return retry_after(username, ip) > 0


def retry_after(username: str, ip: str | None) -> int:
    """Seconds until the username and the IP may try again; 0 when neither is blocked."""
    return _retry_after(_keys(username, ip), settings.LOGIN_RATE_LIMIT)


def record_failure(username: str, ip: str | None) -> None:
    _record(_keys(username, ip))


def signup_retry_after(invite_id: int) -> int:
    """Seconds until the invite's sign-up answers again; 0 when it may."""
    return _retry_after([_key("invite-name", str(invite_id))], SIGNUP_NAME_TRIES)


def record_signup_name_refused(invite_id: int) -> None:
    _record([_key("invite-name", str(invite_id))])


def _retry_after(keys: list[str], limit: int) -> int:
    stored = cache.get_many([*keys, *map(_since, keys)])
    now = time.time()
    waits = [
        math.ceil(stored.get(_since(key), now) + WINDOW_SECONDS - now)
        for key in keys
        if stored.get(key, 0) >= limit
    ]
    # A blocked counter whose start was evicted waits a whole window.
    return max((max(wait, 1) for wait in waits), default=0)


def _record(keys: list[str]) -> None:
    for key in keys:
        if cache.add(key, 0, WINDOW_SECONDS):
            cache.set(_since(key), time.time(), WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: start a new window
            cache.add(key, 1, WINDOW_SECONDS)
            cache.set(_since(key), time.time(), WINDOW_SECONDS)


def reset(username: str) -> None:
    """Forget a username's failures after a successful login (the IP counter stays)."""
    key = _key("user", username.casefold())
    cache.delete_many([key, _since(key)])
