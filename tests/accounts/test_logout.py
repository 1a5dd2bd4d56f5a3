from django.urls import reverse

URL = reverse("accounts:logout")


def test_it_works(alice_client):
    response = alice_client.post(URL)
    assert response.status_code == 302
    assert response.url == reverse("accounts:login")
    assert "_auth_user_id" not in alice_client.session


def test_it_is_post_only(alice_client):
    response = alice_client.get(URL)
    assert response.status_code == 405
    assert "_auth_user_id" in alice_client.session
