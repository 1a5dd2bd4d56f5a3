"""Folders and the archive are per person: filing a conversation changes only one's own
sidebar, reading it is enough, and nobody can file what they may not read."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from chat.models import Archive, Conversation, Folder, FolderItem
from tests.factories import make_conversation, make_user

HTMX = {"HX-Request": "true"}
HOME = reverse("chat:home")


@pytest.fixture
def conversation(team, alice):
    return make_conversation(team, alice, title="File me")


@pytest.fixture
def folder(team, alice):
    return Folder.objects.create(user=alice, team=team, name="Work")


def _sidebar(client) -> str:
    return client.get(HOME).content.decode()


def _section(html: str, start: str, end: str) -> str:
    return html[html.index(start) : html.index(end, html.index(start))]


def test_a_folder_is_made_renamed_and_deleted(alice_client, alice, team, conversation):
    response = alice_client.post(reverse("chat:folder_create"), {"name": "  Work  "}, headers=HTMX)
    assert response.status_code == 200
    assert response.content.decode().strip().startswith('<ul id="conversation-list"')
    folder = Folder.objects.get(user=alice, team=team)
    assert folder.name == "Work"
    alice_client.post(reverse("chat:folder_rename", args=[folder.pk]), {"name": "Projects"})
    folder.refresh_from_db()
    assert folder.name == "Projects"
    FolderItem.place(user=alice, conversation=conversation, folder=folder)
    alice_client.post(reverse("chat:folder_delete", args=[folder.pk]))
    assert not Folder.objects.exists()
    assert Conversation.objects.filter(pk=conversation.pk).exists()  # it stays, unfiled
    assert "File me" in _sidebar(alice_client)


def test_moving_a_conversation_shows_it_in_the_folder(alice_client, conversation, folder):
    make_conversation(conversation.team, conversation.created_by, title="Loose")
    url = reverse("chat:move", args=[conversation.pk])
    content = alice_client.post(url, {"folder": folder.pk}, headers=HTMX).content.decode()
    group = _section(content, 'id="folder-', "</details>")
    assert "File me" in group and "Loose" not in group
    assert content.index("File me") < content.index("Loose")  # folders come first
    alice_client.post(url, {"folder": ""})
    assert not FolderItem.objects.exists()


def test_folders_are_per_person(alice_client, bob_client, conversation, folder, alice):
    conversation.is_shared = True
    conversation.save(update_fields=["is_shared"])
    alice_client.post(reverse("chat:move", args=[conversation.pk]), {"folder": folder.pk})
    alice_client.post(reverse("chat:archive", args=[conversation.pk]))
    bob_html = _sidebar(bob_client)
    assert "Work" not in bob_html and "Archived" not in bob_html
    assert "File me" in bob_html
    rename = reverse("chat:folder_rename", args=[folder.pk])
    assert bob_client.post(rename, {"name": "x"}).status_code == 404
    assert bob_client.post(reverse("chat:folder_delete", args=[folder.pk])).status_code == 404
    # bob cannot file into alice's folder either
    response = bob_client.post(reverse("chat:move", args=[conversation.pk]), {"folder": folder.pk})
    assert response.status_code == 404
    assert list(FolderItem.objects.values_list("user__username", flat=True)) == ["alice"]


def test_outsiders_cannot_file_or_archive(charlie_client, bob_client, conversation):
    for client in (charlie_client, bob_client):  # another team's member; a teammate (private)
        assert client.post(reverse("chat:archive", args=[conversation.pk])).status_code == 404
        move = reverse("chat:move", args=[conversation.pk])
        assert client.post(move, {"folder": ""}).status_code == 404
    assert not Archive.objects.exists()


def test_a_folder_of_another_team_is_refused(alice_client, alice, conversation, other_team):
    elsewhere = Folder.objects.create(user=alice, team=other_team, name="Elsewhere")
    url = reverse("chat:move", args=[conversation.pk])
    assert alice_client.post(url, {"folder": elsewhere.pk}).status_code == 404
    assert alice_client.post(url, {"folder": "not-a-number"}).status_code == 404


def test_archive_and_unarchive(alice_client, conversation):
    content = alice_client.post(
        reverse("chat:archive", args=[conversation.pk]), headers=HTMX
    ).content.decode()
    archived = _section(content, "archived-section", "</details>")
    assert "File me" in archived
    assert content.count(f'id="conversation-{conversation.pk.hex}"') == 1  # not listed twice
    assert "Unarchive</button>" in archived
    # still opens by its URL, and a search finds it
    assert alice_client.get(conversation.get_absolute_url()).status_code == 200
    found = alice_client.get(reverse("chat:search"), {"q": "file"}).content.decode()
    assert "File me" in found and "badge-archived" in found
    alice_client.post(reverse("chat:unarchive", args=[conversation.pk]))
    assert "archived-section" not in _sidebar(alice_client)


def test_a_viewer_may_file_what_they_read(victor_client, victor, team, alice):
    shared = make_conversation(team, alice, title="For all", is_shared=True)
    assert victor_client.post(reverse("chat:archive", args=[shared.pk])).status_code == 302
    assert Archive.objects.filter(user=victor, conversation=shared).exists()


def _sidebar_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("chat:search"), headers=HTMX)
    return len(queries.captured_queries)


def test_the_sidebar_costs_the_same_with_folders(alice_client, alice, team):
    _sidebar_queries(alice_client)  # the session and caches warm up
    before = _sidebar_queries(alice_client)
    folders = [Folder.objects.create(user=alice, team=team, name=f"F{i}") for i in range(5)]
    for i in range(20):
        chat = make_conversation(team, alice, title=f"Chat {i}")
        FolderItem.place(user=alice, conversation=chat, folder=folders[i % 5])
        if i % 4 == 0:
            Archive.set(user=alice, conversation=chat, archived=True)
    # the folders and the archived list: one query each, however many there are
    assert _sidebar_queries(alice_client) == before


def test_forms_carry_csrf(alice_client, conversation, folder):
    html = _sidebar(alice_client)
    actions = ("folders/create/", f"folders/{folder.pk}/rename/", f"/c/{conversation.pk}/archive/")
    for action in actions:
        form = html[html.index(action) :]
        assert "csrfmiddlewaretoken" in form[: form.index("</form>")]


def test_without_a_team_there_is_nothing_to_file_in(client, db):
    client.force_login(make_user("loner"))
    assert "New folder" not in client.get(HOME).content.decode()
    assert client.post(reverse("chat:folder_create"), {"name": "x"}).status_code == 404
