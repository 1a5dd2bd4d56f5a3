"""`manage.py serve`'s start line: one line that says where to open Parlor and, on a fresh
database, that the first account created becomes the site admin."""

from __future__ import annotations

import pytest

from config.management.commands.serve import _has_users, open_url, start_line
from tests.factories import make_user


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000/"),
        ("0.0.0.0", "http://127.0.0.1:8000/"),
        ("::", "http://127.0.0.1:8000/"),
        ("::1", "http://[::1]:8000/"),
        ("[::1]", "http://[::1]:8000/"),
        ("chat.local", "http://chat.local:8000/"),
    ],
)
def test_the_url_to_open_can_be_opened(host, url):
    assert open_url(host, 8000) == url


def test_a_fresh_start_says_the_first_account_becomes_the_site_admin():
    line = start_line("127.0.0.1", 8199, first_run=True)

    assert "\n" not in line
    assert "open http://127.0.0.1:8199/ " in line
    assert "first account" in line
    assert "site admin" in line


def test_a_later_start_only_says_where_to_open():
    line = start_line("127.0.0.1", 8000, first_run=False)

    assert "open http://127.0.0.1:8000/ " in line
    assert "admin" not in line


@pytest.mark.django_db
def test_first_run_is_a_database_without_users():
    assert not _has_users()
    make_user("alice")
    assert _has_users()
