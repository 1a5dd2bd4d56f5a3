"""Is the session that opened a websocket still the one Django would accept?

A socket is authenticated once, at its handshake. The session can end afterwards (logout,
a password change, the account deactivated); the consumer asks this module again when told
access changed and, inside a reply start's transaction, whenever the member's access version
moved since the socket checked it or the session reached its expiry (chat.starts), so a
missed event still cannot start one.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.exceptions import PermissionDenied
from django.utils.crypto import constant_time_compare

from accounts.models import User


class SessionEnded(PermissionDenied):
    """The session behind a socket ended: the socket must close."""


def session_is_current(session_key: str | None, user: User | None) -> bool:
    """What django.contrib.auth.get_user checks, for a user loaded just now: the session still
    exists and names this user, the user is active and the session's auth hash still matches
    (a password change rotates it)."""
    if not session_key or user is None or not user.is_active:
        return False
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    if session.get(SESSION_KEY) != user._meta.pk.value_to_string(user):
        return False
    stored = session.get(HASH_SESSION_KEY) or ""
    if constant_time_compare(stored, user.get_session_auth_hash()):
        return True
    return any(  # a session signed before a SECRET_KEY rotation, as get_user accepts
        constant_time_compare(stored, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )


def check_session(session_key: str | None, user_id: int) -> User:
    """The user, loaded now; SessionEnded when the socket's session is no longer valid."""
    user = User.objects.filter(pk=user_id).first()
    if not session_is_current(session_key, user):
        raise SessionEnded
    assert user is not None
    return user
