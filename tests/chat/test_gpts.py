"""GPTs (gpt-4-gizmo-*): a team's owners keep the list (the id is taken from a ChatGPT link or
typed bare); the model picker shows the team's GPTs by name in a group labelled "GPTs" when the
gateway takes GPT ids; a conversation with a GPT names it in its header."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from chat.forms import extract_gizmo_id
from chat.models import GPT, Conversation
from tests.factories import make_conversation

LISTED = ["gpt-4o", "gpt-4-gizmo-g-listed1"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def gateway_models(monkeypatch):
    models = list(LISTED)
    monkeypatch.setattr("gateway.catalogue.list_chat_models", lambda: list(models))
    return models


@pytest.fixture
def gpt(team, alice):
    return GPT.objects.create(
        team=team,
        gizmo_id="g-abc123",
        name="Travel Guide",
        description="Plans trips",
        created_by=alice,
    )


def _png(size=(300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("pasted", "gizmo_id"),
    [
        ("https://chatgpt.com/g/g-abc123-travel-guide", "g-abc123"),
        ("https://chat.openai.com/g/g-2fkFE8rbu-dall-e", "g-2fkFE8rbu"),
        ("chatgpt.com/g/g-XyZ987", "g-XyZ987"),
        ("  g-abc123  ", "g-abc123"),
        ("gpt-4-gizmo-g-abc123", "g-abc123"),
        ("https://chatgpt.com/g/g-abc123-name?model=gpt-4o", "g-abc123"),
        ("https://chatgpt.com/", None),
        ("https://chatgpt.com/g/not-a-gpt", None),
        ("abc123", None),
        ("g-", None),
        ("g-abc 123", None),
        ("g-abc123<script>", None),
    ],
)
def test_the_id_is_extracted_from_what_is_pasted(pasted, gizmo_id):
    assert extract_gizmo_id(pasted) == gizmo_id


# --------------------------------------------------------------------------- managing


def test_an_owner_adds_a_gpt_from_its_link_with_an_icon(alice_client, team, alice):
    icon = SimpleUploadedFile("me.png", _png(), content_type="image/png")
    response = alice_client.post(
        reverse("chat:gpts", args=[team.pk]),
        {
            "source": "https://chatgpt.com/g/g-abc123-travel-guide",
            "name": "Travel Guide",
            "description": "Plans trips",
            "icon_upload": icon,
        },
    )
    assert response.status_code == 302
    gpt = GPT.objects.get(team=team)
    assert (gpt.gizmo_id, gpt.name, gpt.description, gpt.created_by) == (
        "g-abc123",
        "Travel Guide",
        "Plans trips",
        alice,
    )
    assert gpt.model_id == "gpt-4-gizmo-g-abc123"
    with Image.open(gpt.icon.open("rb")) as stored:
        assert (stored.format, max(stored.size)) == ("PNG", 128)

    page = alice_client.get(reverse("chat:gpts", args=[team.pk])).content.decode()
    assert "Travel Guide" in page and "g-abc123" in page
    served = alice_client.get(reverse("chat:gpt_icon", args=[team.pk, gpt.pk]))
    assert served.status_code == 200 and served["Content-Type"] == "image/png"


def test_what_is_not_a_gpt_or_not_a_picture_is_refused(alice_client, team, gpt):
    url = reverse("chat:gpts", args=[team.pk])
    bad_icon = SimpleUploadedFile("x.png", b"<svg onload=alert(1)>", content_type="image/png")
    response = alice_client.post(url, {"source": "https://chatgpt.com/", "name": "X"})
    assert response.status_code == 400
    response = alice_client.post(url, {"source": "g-abc123", "name": "Again"})
    assert response.status_code == 400 and "already on the list" in response.content.decode()
    response = alice_client.post(url, {"source": "g-new1", "name": "N", "icon_upload": bad_icon})
    assert response.status_code == 400
    assert list(GPT.objects.values_list("gizmo_id", flat=True)) == ["g-abc123"]


def test_only_owners_manage_gpts(bob_client, victor_client, charlie_client, team, gpt):
    url = reverse("chat:gpts", args=[team.pk])
    delete = reverse("chat:gpt_delete", args=[team.pk, gpt.pk])
    for client, status in ((bob_client, 403), (victor_client, 403), (charlie_client, 404)):
        assert client.get(url).status_code == status
        assert client.post(url, {"source": "g-zzz999", "name": "Z"}).status_code == status
        assert client.post(delete).status_code == status
    assert list(GPT.objects.values_list("gizmo_id", flat=True)) == ["g-abc123"]
    # Members see the icon of their team's GPT; outsiders do not.
    icon = reverse("chat:gpt_icon", args=[team.pk, gpt.pk])
    assert charlie_client.get(icon).status_code == 404


def test_an_owner_removes_a_gpt(alice_client, team, gpt):
    response = alice_client.post(reverse("chat:gpt_delete", args=[team.pk, gpt.pk]))
    assert response.status_code == 302
    assert not GPT.objects.exists()


def test_managing_gpts_needs_the_csrf_token(alice, team):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(
        reverse("chat:gpts", args=[team.pk]), {"source": "g-a1b2c3", "name": "A"}
    )
    assert response.status_code == 403
    assert not GPT.objects.exists()


def test_the_team_page_links_to_the_gpts_for_owners_only(alice_client, bob_client, team):
    link = reverse("chat:gpts", args=[team.pk])
    assert link in alice_client.get(reverse("accounts:team")).content.decode()
    assert link not in bob_client.get(reverse("accounts:team")).content.decode()


# --------------------------------------------------------------------------- the picker


def _group(page: str) -> str | None:
    match = re.search(r'<optgroup label="GPTs">(.*?)</optgroup>', page, re.S)
    return match.group(1) if match else None


def test_the_picker_has_a_gpts_group_when_the_gateway_lists_gizmos(
    alice_client, team, alice, gpt, gateway_models
):
    conversation = make_conversation(team, alice)
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    group = _group(page)
    assert group is not None
    assert '<option value="gpt-4-gizmo-g-abc123">Travel Guide</option>' in group
    # Listed gizmo ids are not offered as bare ids; the team's list is what is offered.
    assert "gpt-4-gizmo-g-listed1" not in page
    home = alice_client.get(reverse("chat:home")).content.decode()
    assert '<option value="gpt-4-gizmo-g-abc123">Travel Guide</option>' in (_group(home) or "")


def test_no_gpts_group_when_the_gateway_does_not_take_gizmos(
    alice_client, team, alice, gpt, gateway_models, settings
):
    gateway_models.remove("gpt-4-gizmo-g-listed1")
    conversation = make_conversation(team, alice)
    assert _group(alice_client.get(conversation.get_absolute_url()).content.decode()) is None

    settings.GATEWAY_ACCEPTS_UNLISTED_GIZMOS = True
    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert "Travel Guide" in (_group(page) or "")


def test_no_gpts_group_without_gpts(alice_client, team, alice, gateway_models):
    conversation = make_conversation(team, alice)
    assert _group(alice_client.get(conversation.get_absolute_url()).content.decode()) is None


def test_another_teams_gpts_are_not_offered(
    charlie_client, other_team, charlie, gpt, gateway_models
):
    conversation = make_conversation(other_team, charlie)
    page = charlie_client.get(conversation.get_absolute_url()).content.decode()
    assert _group(page) is None and "Travel Guide" not in page


def test_choosing_a_gpt_and_the_header_names_it(alice_client, team, alice, gpt, gateway_models):
    conversation = make_conversation(team, alice)
    response = alice_client.post(
        reverse("chat:update_settings", args=[conversation.pk]), {"model": gpt.model_id}
    )
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.model == "gpt-4-gizmo-g-abc123"

    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    header = page.split('id="conversation-header"', 1)[1].split("</header>", 1)[0]
    assert "GPT: <strong>Travel Guide</strong>" in header and "Plans trips" in header
    assert '<option value="gpt-4-gizmo-g-abc123" selected>Travel Guide</option>' in _group(page)


def test_a_new_chat_can_start_with_a_gpt(alice_client, team, gpt, gateway_models):
    response = alice_client.post(reverse("chat:new"), {"text": "Plan Rome", "model": gpt.model_id})
    assert response.status_code == 302
    assert Conversation.objects.get(team=team).model == "gpt-4-gizmo-g-abc123"


def test_a_gpt_of_another_team_cannot_be_chosen(
    alice_client, team, other_team, charlie, alice, gateway_models
):
    GPT.objects.create(team=other_team, gizmo_id="g-theirs1", name="Theirs")
    conversation = make_conversation(team, alice)
    response = alice_client.post(
        reverse("chat:update_settings", args=[conversation.pk]), {"model": "gpt-4-gizmo-g-theirs1"}
    )
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.model == "gpt-4o-mini"
