import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD

URL = reverse("accounts:login")
BLOCKED = "Too many failed attempts. Try again in a few minutes."


@pytest.fixture(autouse=True)
def limit_of_three(settings):
    settings.LOGIN_RATE_LIMIT = 3


def _login(client, username="alice", password=PASSWORD, ip="10.0.0.1"):
    return client.post(URL, {"username": username, "password": password}, REMOTE_ADDR=ip)


def _fail(client, times, **kwargs):
    for _ in range(times):
        response = _login(client, password="wrong", **kwargs)
        assert BLOCKED not in response.content.decode()


def test_it_allows_attempts_under_the_limit(client, alice):
    _fail(client, 2)
    response = _login(client)
    assert response.status_code == 302


def test_it_blocks_after_the_limit_even_with_the_right_password(client, alice):
    _fail(client, 3)
    response = _login(client)
    assert response.status_code == 429
    assert BLOCKED in response.content.decode()
    assert 'name="username"' in response.content.decode()  # the form, to try again later
    assert "_auth_user_id" not in client.session


def test_a_blocked_login_says_when_to_come_back(client, alice):
    _fail(client, 3)
    response = _login(client)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 15 * 60


def test_a_wrong_password_under_the_limit_is_not_429(client, alice):
    response = _login(client, password="wrong")
    assert response.status_code == 200
    assert not response.has_header("Retry-After")


def test_it_blocks_the_username_from_another_ip(client, alice):
    _fail(client, 3, ip="10.0.0.1")
    response = _login(Client(), ip="10.0.0.2")
    assert BLOCKED in response.content.decode()


def test_it_blocks_the_ip_for_another_username(client, alice, bob):
    _fail(client, 3, username="alice")
    response = _login(client, username="bob")
    assert BLOCKED in response.content.decode()


def test_it_counts_usernames_case_insensitively(client, alice):
    _fail(client, 3, username="ALICE", ip="10.0.0.1")
    response = _login(Client(), ip="10.0.0.9")
    assert BLOCKED in response.content.decode()


def test_a_successful_login_resets_the_username_counter(client, alice):
    _fail(client, 2, ip="10.0.0.1")
    assert _login(client, ip="10.0.0.2").status_code == 302
    # Two more failures from a fresh IP would have hit the limit without the reset.
    _fail(Client(), 2, ip="10.0.0.3")
    assert _login(Client(), ip="10.0.0.3").status_code == 302


def _login_via_proxy(client, username, forwarded_for):
    data = {"username": username, "password": "wrong"}
    return client.post(URL, data, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded_for)


def test_behind_a_proxy_it_counts_the_address_the_proxy_saw(client, alice, bob, settings):
    settings.BEHIND_HTTPS_PROXY = True
    for username in ("alice", "bob", "nobody"):  # three users, so only the IP counter trips
        _login_via_proxy(client, username, "203.0.113.9")
    assert BLOCKED in _login_via_proxy(Client(), "other", "203.0.113.9").content.decode()
    # Another visitor behind the same proxy is not locked out...
    assert BLOCKED not in _login_via_proxy(Client(), "other", "198.51.100.7").content.decode()
    # ...and a forged first entry does not dodge the count.
    forged = _login_via_proxy(Client(), "other", "1.2.3.4, 203.0.113.9")
    assert BLOCKED in forged.content.decode()


def test_without_a_proxy_the_header_is_ignored(client, alice, bob, settings):
    settings.BEHIND_HTTPS_PROXY = False
    for username, forwarded in (("alice", "1.1.1.1"), ("bob", "2.2.2.2"), ("x", "3.3.3.3")):
        _login_via_proxy(client, username, forwarded)
    assert BLOCKED in _login_via_proxy(Client(), "other", "4.4.4.4").content.decode()
