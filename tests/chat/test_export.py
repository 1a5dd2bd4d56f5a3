"""chat:export (a conversation as Markdown or JSON) and the admin's team export."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from chat import export
from chat.models import Message
from tests.factories import make_conversation, make_message

ASSISTANT = Message.Role.ASSISTANT


@pytest.fixture
def shared(team, alice, bob):
    """alice's shared conversation; her question has two versions, the second one shown."""
    conversation = make_conversation(
        team, alice, title="Q3 plans: ünïcode/../x", is_shared=True, model="demo-fast",
        system_prompt="Be terse.",
    )  # fmt: skip
    make_message(conversation, content="Old question", author=alice)
    question = make_message(conversation, content="Which table?", author=alice)
    make_message(
        conversation,
        role=ASSISTANT,
        content="| a | b |\n|---|---|\n| 1 | 2 |",
        parent=question,
        model="demo-fast",
        prompt_tokens=5,
        completion_tokens=9,
        ttft_ms=120,
        duration_ms=800,
    )
    return conversation


def _url(conversation, fmt):
    return reverse("chat:export", args=[conversation.pk, fmt])


def test_json_has_the_current_path_with_its_versions(bob_client, shared):
    response = bob_client.get(_url(shared, "json"))  # reading is enough
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="q3-plans-unicodex.json"'
    data = json.loads(response.content)
    assert (data["title"], data["model"], data["system_prompt"], data["created_by"]) == (
        "Q3 plans: ünïcode/../x",
        "demo-fast",
        "Be terse.",
        "alice",
    )
    assert data["created_at"] and data["updated_at"]
    rows = [
        (m["role"], m["author"], m["model"], m["status"], m["content"], m["version"], m["versions"])
        for m in data["messages"]
    ]
    assert rows == [
        ("user", "alice", "", "complete", "Which table?", 2, 2),
        ("assistant", None, "demo-fast", "complete", "| a | b |\n|---|---|\n| 1 | 2 |", 1, 1),
    ]
    assert data["messages"][1]["created_at"]
    assert (data["messages"][1]["prompt_tokens"], data["messages"][1]["completion_tokens"]) == (
        5,
        9,
    )


def test_markdown_has_the_messages(alice_client, shared):
    response = alice_client.get(_url(shared, "markdown"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="q3-plans-unicodex.md"'
    text = response.content.decode()
    assert text.startswith("# Q3 plans: ünïcode/../x\n")
    assert "## alice\n" in text and "version 2 of 2" in text and "Which table?" in text
    assert "## Assistant (demo-fast)\n" in text and "| 1 | 2 |" in text
    assert "Be terse." in text and "Old question" not in text


def test_a_title_without_safe_characters_gets_a_plain_name(alice_client, team, alice):
    conversation = make_conversation(team, alice, title='计划 "\r\n;')
    response = alice_client.get(_url(conversation, "markdown"))
    assert response["Content-Disposition"] == 'attachment; filename="conversation.md"'


def test_charlie_gets_a_404(client, charlie, other_team, shared):
    client.force_login(charlie)
    assert client.get(_url(shared, "json")).status_code == 404
    assert client.get(_url(shared, "markdown")).status_code == 404


def test_a_private_conversation_of_a_teammate_is_a_404(bob_client, team, alice):
    private = make_conversation(team, alice, title="Mine")
    assert bob_client.get(_url(private, "json")).status_code == 404


def test_an_unknown_format_is_a_404(alice_client, shared):
    assert alice_client.get(_url(shared, "pdf")).status_code == 404


def test_it_requires_login(client, shared):
    response = client.get(_url(shared, "json"))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_the_page_offers_the_export(bob_client, shared):
    content = bob_client.get(shared.get_absolute_url()).content.decode()
    assert f'popovertarget="export-menu-{shared.pk}">Export</button>' in content
    assert f'href="{_url(shared, "markdown")}" download>Markdown</a>' in content
    assert f'href="{_url(shared, "json")}" download>JSON</a>' in content


@pytest.fixture
def admin_client(client, alice):
    alice.is_staff = alice.is_superuser = True
    alice.save(update_fields=["is_staff", "is_superuser"])
    client.force_login(alice)
    return client


def _export_teams(admin_client, *teams):
    return admin_client.post(
        reverse("admin:accounts_team_changelist"),
        {"action": "export_teams_json", "_selected_action": [t.pk for t in teams]},
    )


@pytest.mark.django_db(transaction=True)
async def test_a_site_admin_exports_a_whole_team_streamed(
    async_client, team, alice, bob, shared, other_team, charlie, monkeypatch
):
    """Under ASGI (as daphne serves it) the body is an async iterator, one batch at a time."""
    monkeypatch.setattr(export, "TEAM_BATCH", 2)  # several batches
    await sync_to_async(_more_conversations)(team, alice, bob, other_team, charlie)
    await async_client.aforce_login(alice)

    response = await async_client.post(
        reverse("admin:accounts_team_changelist"),
        {"action": "export_teams_json", "_selected_action": [team.pk]},
    )

    assert response.status_code == 200 and response.is_async
    assert response["Content-Disposition"] == (
        f'attachment; filename="team-{team.pk}-conversations.json"'
    )
    chunks = [chunk async for chunk in response]
    data = json.loads(b"".join(chunks))
    (exported,) = data["teams"]
    assert (exported["id"], exported["name"]) == (team.pk, "Acme")
    titles = sorted(c["title"] for c in exported["conversations"])
    assert titles == ["Bob's private", "Empty", "Q3 plans: ünïcode/../x"]
    plans = next(c for c in exported["conversations"] if c["title"].startswith("Q3"))
    assert [m["content"] for m in plans["messages"]] == [
        "Which table?",
        "| a | b |\n|---|---|\n| 1 | 2 |",
    ]
    assert len(chunks) > 6  # conversations went out one by one, not as one document


def _more_conversations(team, alice, bob, other_team, charlie):
    alice.is_staff = alice.is_superuser = True
    alice.save(update_fields=["is_staff", "is_superuser"])
    make_conversation(team, bob, title="Bob's private")
    make_conversation(team, alice, title="Empty")
    make_conversation(other_team, charlie, title="Not this team")


def test_several_teams_and_an_empty_one(admin_client, team, other_team, charlie):
    make_conversation(other_team, charlie, title="Charlie's")
    with pytest.warns(Warning, match="consume asynchronous iterators"):  # the sync client
        data = json.loads(b"".join(_export_teams(admin_client, team, other_team)))
    assert [(t["name"], len(t["conversations"])) for t in data["teams"]] == [
        ("Acme", 0),
        ("Charlie's", 1),
    ]


def test_staff_without_superuser_cannot_export(client, bob, team, alice):
    from django.contrib.auth.models import Permission

    bob.is_staff = True
    bob.save(update_fields=["is_staff"])
    bob.user_permissions.add(Permission.objects.get(codename="view_team"))
    make_conversation(team, alice, title="Private to alice")
    client.force_login(bob)
    changelist = client.get(reverse("admin:accounts_team_changelist"))
    assert changelist.status_code == 200
    assert "export_teams_json" not in changelist.content.decode()
    response = _export_teams(client, team)
    assert not response.streaming
    assert b"Private to alice" not in response.content


def test_members_cannot_use_the_admin_export(bob_client, team):
    response = _export_teams(bob_client, team)
    assert response.status_code == 302 and "/admin/login/" in response.url
