"""Look-alike usernames: a name mixing scripts ("paypal" with a Cyrillic a in it) is
refused, and so is one whose skeleton (NFKC, casefold, Cyrillic and Greek look-alikes read as
the Latin letters they resemble) is an existing user's. Every form that names a user goes
through User.clean: the invite sign-up, the first-run form, the admin's user forms."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Invite, User
from accounts.usernames import skeleton
from tests.factories import make_user

PASSWORD = "a-long-passphrase-42"
CYRILLIC_ADMIN = "\u0430dmin"  # its first letter is the Cyrillic a


@pytest.fixture
def invite(team, alice):
    return Invite.objects.create(team=team, role="viewer", created_by=alice)


def _signup(client, invite, username):
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("accounts:invite_accept", args=[invite.token]), data)


@pytest.mark.parametrize(
    ("name", "latin"),
    [
        (CYRILLIC_ADMIN, "admin"),
        ("\u0410DMIN", "admin"),  # capital Cyrillic A
        ("\u0440\u0430\u0443\u0440\u0430l", "paypal"),
        ("\u03bf\u03bd\u03b5", "ove"),  # Greek omicron, nu, epsilon
        ("\uff21\uff24\uff2d\uff29\uff2e", "admin"),  # fullwidth, folded by NFKC
        ("Admin", "admin"),
    ],
)
def test_skeleton(name, latin):
    assert skeleton(name) == skeleton(latin) == latin


def test_the_cyrillic_admin_is_refused_next_to_admin(client, invite):
    make_user("admin")
    response = _signup(client, invite, CYRILLIC_ADMIN)
    assert response.status_code == 200
    assert "one script" in response.content.decode()  # a Cyrillic a among Latin letters
    assert not User.objects.filter(username=CYRILLIC_ADMIN).exists()


def test_a_name_in_another_case_is_refused(client, invite):
    make_user("admin")
    _signup(client, invite, "Admin")
    assert not User.objects.filter(username="Admin").exists()


def test_an_all_cyrillic_look_alike_is_refused(client, invite, alice):
    look_alike = "\u0430\u04cf\u0456\u0441\u0435"  # all Cyrillic, alice's skeleton
    response = _signup(client, invite, look_alike)
    assert "too similar to an existing username" in response.content.decode()
    assert not User.objects.filter(username=look_alike).exists()


def test_mixed_scripts_are_refused_even_with_no_look_alike(client, invite):
    response = _signup(client, invite, "p\u0430ypal")
    assert "one script" in response.content.decode()
    assert not User.objects.filter(username="p\u0430ypal").exists()


@pytest.mark.parametrize("name", ["иван", "δημήτρης", "山田たろう", "dora_2", "j.doe@example"])
def test_names_of_one_script_are_welcome(client, invite, name):
    assert _signup(client, invite, name).status_code == 302
    assert User.objects.filter(username=name).exists()


def test_the_admin_user_form_refuses_a_look_alike(admin_client):
    make_user("\u0430dm\u0456n_2")  # all look-alikes: "admin_2" to the eye
    data = {"username": "admin_2", "password1": PASSWORD, "password2": PASSWORD,
            "usable_password": "true"}  # fmt: skip
    response = admin_client.post(reverse("admin:accounts_user_add"), data)
    assert response.status_code == 200
    assert "too similar" in response.content.decode()
    assert not User.objects.filter(username="admin_2").exists()


def test_the_first_run_form_refuses_mixed_scripts(client, db):
    data = {"username": "p\u0430ypal", "password1": PASSWORD, "password2": PASSWORD,
            "team_name": "Acme"}  # fmt: skip
    response = client.post(reverse("accounts:setup"), data)
    assert response.status_code == 200
    assert not User.objects.exists()


def test_saving_ones_own_name_again_is_no_clash(alice):
    alice.full_clean()
