import pytest
from django.urls import reverse

SETUP = reverse("accounts:setup")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/team/", "/admin/"])
def test_every_page_redirects_to_setup_when_there_are_no_users(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.url == SETUP


@pytest.mark.django_db
def test_static_and_health_are_not_redirected(client):
    health = client.get("/health/")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}

    script = client.get("/static/js/app.js")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("text/javascript")
    assert b"function enhance(" in b"".join(script.streaming_content)


def test_it_stops_redirecting_once_a_user_exists(client, alice):
    response = client.get("/accounts/login/")
    assert response.status_code == 200


@pytest.mark.django_db
def test_it_stops_redirecting_right_after_setup(client):
    password = "a-long-passphrase-42"
    client.post(
        SETUP,
        {"username": "admin", "password1": password, "password2": password, "team_name": "T"},
    )
    client.logout()
    response = client.get(reverse("accounts:login"))
    assert response.status_code == 200
