from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invite


@pytest.fixture
def admin_client(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(alice)
    return client


@pytest.mark.parametrize(
    "name", ["accounts_user", "accounts_team", "accounts_membership", "accounts_invite"]
)
def test_the_changelists_work(admin_client, team, name):
    response = admin_client.get(reverse(f"admin:{name}_changelist") + "?q=a")
    assert response.status_code == 200


def test_the_team_list_counts_members(admin_client, team):
    response = admin_client.get(reverse("admin:accounts_team_changelist"))
    assert '<td class="field-member_count">3</td>' in response.content.decode()


def test_the_user_page_shows_memberships(admin_client, bob, team):
    response = admin_client.get(reverse("admin:accounts_user_change", args=[bob.pk]))
    assert response.status_code == 200
    assert "team memberships" in response.content.decode().lower()


def test_the_user_add_page_works(admin_client):
    assert admin_client.get(reverse("admin:accounts_user_add")).status_code == 200


def test_the_invite_filter_splits_by_status(admin_client, alice, team):
    now = timezone.now()
    Invite.objects.create(team=team, role="member", created_by=alice)
    Invite.objects.create(team=team, role="owner", expires_at=now - timedelta(hours=1))
    Invite.objects.create(team=team, role="viewer", used_at=now)
    url = reverse("admin:accounts_invite_changelist")
    for status, role in [("pending", "Member"), ("expired", "Owner"), ("used", "Viewer")]:
        response = admin_client.get(url, {"status": status})
        assert response.status_code == 200
        assert response.context["cl"].result_count == 1
        assert response.context["cl"].result_list[0].get_role_display() == role


def test_the_invite_page_shows_the_token_read_only(admin_client, alice, team):
    invite = Invite.objects.create(team=team, created_by=alice)
    response = admin_client.get(reverse("admin:accounts_invite_change", args=[invite.pk]))
    content = response.content.decode()
    assert invite.token in content
    assert 'name="token"' not in content
