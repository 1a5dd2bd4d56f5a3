from django.urls import reverse

from tests.factories import PASSWORD

URL = reverse("accounts:password_change")
NEW = "another-long-passphrase-7"


def test_it_shows_the_form(alice_client):
    response = alice_client.get(URL)
    assert response.status_code == 200
    assert "<h1>Change password</h1>" in response.content.decode()


def test_it_works(alice_client, alice):
    response = alice_client.post(
        URL, {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    )
    assert response.status_code == 302
    assert response.url == reverse("accounts:password_change_done")
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    # Still signed in on this device.
    assert alice_client.get(reverse("accounts:password_change_done")).status_code == 200


def test_it_checks_the_old_password(alice_client, alice):
    response = alice_client.post(
        URL, {"old_password": "wrong", "new_password1": NEW, "new_password2": NEW}
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_it_requires_login(client, alice):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
