from django.urls import reverse

from tests.factories import PASSWORD

URL = reverse("accounts:login")


def test_it_shows_the_form(client, alice):
    response = client.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert ">Username</label>" in content
    assert ">Password</label>" in content
    assert "Log in</button>" in content


def test_it_works(client, alice):
    response = client.post(URL, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("chat:home")
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_it_follows_a_safe_next(client, alice):
    response = client.post(
        URL, {"username": "alice", "password": PASSWORD, "next": "/accounts/team/"}
    )
    assert response.url == "/accounts/team/"


def test_it_ignores_an_offsite_next(client, alice):
    response = client.post(
        URL, {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.url == reverse("chat:home")


def test_it_rejects_a_wrong_password(client, alice):
    response = client.post(URL, {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_redirects_a_signed_in_user(alice_client):
    response = alice_client.get(URL)
    assert response.status_code == 302
